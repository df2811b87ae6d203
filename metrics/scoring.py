"""Scoring folders of images: the engine behind ``workbench score``.

Files of ``--pred`` and ``--ref`` are paired by name without extension (``0001.png`` with
``0001.jpg``), read with :func:`metrics.io.load_image` (float RGB in [0, 1]) and scored in batches.
Per-image metrics give one number per prediction and their mean; set metrics (``fd``, ``kid``)
compare the two folders as distributions and give one number.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from metrics.bootstrap import bootstrap_ci
from metrics.checks import MetricInputError
from metrics.io import DEFAULT_MAX_PIXELS, ImageReadError, list_images, load_image, pair_images
from metrics.perceptual.weights import LPIPSWeightsError
from workbench.config import MAX_SEED, ConfigSection
from workbench.loading import ModelNotAvailableError
from workbench.registry import Registry
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)


MAX_BOOTSTRAP = 100_000
"""The most bootstrap resamples (each resample costs one pass over the per-image values)."""


class ScoreConfig(ConfigSection):
    """Settings of a folder scoring run (every field is written into the result's ``settings``)."""

    metrics: list[str] = Field(min_length=1, description="metric names, see SCORERS.names()")
    batch_size: int = Field(16, ge=1, le=4096)
    alpha: Literal["white", "black", "reject"] = "white"
    lpips_net: Literal["alex", "vgg"] = "alex"
    lpips_backbone: str | None = Field(None, description="LPIPS backbone file or folder")
    clip: str = Field(
        "toy", description="CLIP model for clip_t / clip_i / fd / kid: preset, folder or hub id"
    )
    features: Literal["clip"] = Field("clip", description="feature extractor of fd / kid")
    kid_subsets: int = Field(100, ge=1, le=100_000)
    kid_subset_size: int = Field(1000, ge=2, le=1_000_000)
    ms_ssim_scales: int = Field(5, ge=1, le=5)
    bootstrap: int = Field(
        1000, ge=0, le=MAX_BOOTSTRAP, description="bootstrap resamples for the 95% CIs (0: none)"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str | None = None
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS, ge=1, description="largest image (width x height) read; larger ones are refused"
    )


class ModelCache:
    """Loads each model once per scoring run (CLIP is shared by clip_t, clip_i, fd and kid)."""

    def __init__(self, config: ScoreConfig) -> None:
        self.config = config
        self._clip: tuple[Any, Any] | None = None
        self._runtime = None

    @property
    def runtime(self):
        if self._runtime is None:
            self._runtime = Runtime(seed=self.config.seed, device=self.config.device)
        return self._runtime

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def clip(self) -> tuple[Any, Any]:
        if self._clip is None:
            # deferred: torch, diffusers, transformers (loaded on first use)
            from workbench.loading import load_clip

            self._clip = load_clip(self.config.clip, self.runtime)
        return self._clip


@dataclass
class Batch:
    names: list[str]
    preds: list[torch.Tensor]
    refs: list[torch.Tensor] | None
    prompts: list[str] | None


class FolderScorer:
    """One metric over folders. Subclasses set the flags and implement ``update`` / ``result``."""

    name: ClassVar[str] = ""
    needs_ref: ClassVar[bool] = True
    needs_prompts: ClassVar[bool] = False
    per_image: ClassVar[bool] = True
    same_size: ClassVar[bool] = True  # pred and ref of a pair must have the same size

    def __init__(self, config: ScoreConfig, models: ModelCache) -> None:
        self.config = config
        self.models = models

    def update(self, batch: Batch) -> list[float] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


SCORERS: Registry[type[FolderScorer]] = Registry("score metric")


def _same_size_runs(tensors: list[torch.Tensor]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive runs of equally shaped tensors."""
    start = 0
    for i in range(1, len(tensors) + 1):
        if i == len(tensors) or tensors[i].shape != tensors[start].shape:
            yield start, i
            start = i


class _MetricScorer(FolderScorer):
    """Wraps a :class:`metrics.base.PerItemMetric` whose ``update`` takes (preds, refs) or (preds, prompts)."""

    def __init__(self, config: ScoreConfig, models: ModelCache) -> None:
        super().__init__(config, models)
        self.metric = self.build().to(models.device)

    def build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, batch: Batch) -> list[float]:
        out: list[float] = []
        device = self.models.device
        for a, b in _same_size_runs(batch.preds):
            preds = torch.stack(batch.preds[a:b]).to(device)
            with torch.no_grad():
                if self.needs_prompts:
                    values, n_truncated = self.metric.forward_values(preds, batch.prompts[a:b])
                    self.metric.truncated += n_truncated
                else:
                    refs = batch.refs[a:b]
                    if not self.same_size or all(r.shape == refs[0].shape for r in refs):
                        target = torch.stack(refs).to(device)
                    else:
                        target = [r.to(device) for r in refs]
                    if isinstance(target, list):
                        values = torch.cat(
                            [
                                self.metric.forward_values(preds[i : i + 1], target[i][None])
                                for i in range(len(target))
                            ]
                        )
                    else:
                        values = self.metric.forward_values(preds, target)
            out.extend(self.metric.add_values(values).tolist())
        return out

    def result(self) -> dict[str, Any]:
        return {"value": float(self.metric.compute()), **self.metric.describe()}


@SCORERS.register("ssim")
class SSIMScorer(_MetricScorer):
    name = "ssim"

    def build(self):
        from metrics.image.ssim import SSIM  # deferred: scipy, torchmetrics

        return SSIM(data_range=1.0)


@SCORERS.register("ms_ssim")
class MSSSIMScorer(_MetricScorer):
    name = "ms_ssim"

    def build(self):
        from metrics.functional.ms_ssim import MS_SSIM_BETAS  # deferred: scipy
        from metrics.image.ms_ssim import MSSSIM  # deferred: scipy, torchmetrics

        return MSSSIM(data_range=1.0, betas=MS_SSIM_BETAS[: self.config.ms_ssim_scales])


@SCORERS.register("psnr")
class PSNRScorer(_MetricScorer):
    name = "psnr"

    def build(self):
        from metrics.image.psnr import PSNR  # deferred: scipy, torchmetrics

        return PSNR(data_range=1.0)


@SCORERS.register("mse")
class MSEScorer(_MetricScorer):
    name = "mse"

    def build(self):
        from metrics.image.mse import MSE  # deferred: scipy, torchmetrics

        return MSE(data_range=1.0)


@SCORERS.register("lpips")
class LPIPSScorer(_MetricScorer):
    name = "lpips"

    def build(self):
        from metrics.image.lpips import LPIPS  # deferred: torchmetrics

        return LPIPS(net=self.config.lpips_net, input_range="[0,1]", backbone_path=self.config.lpips_backbone)


@SCORERS.register("clip_t")
class CLIPTScorer(_MetricScorer):
    name = "clip_t"
    needs_ref = False
    needs_prompts = True

    def build(self):
        from metrics.embedding.clip_t import CLIPTextScore  # deferred: torchmetrics

        model, processor = self.models.clip()
        return CLIPTextScore(model, processor, model_name=self.config.clip)


@SCORERS.register("clip_i")
class CLIPIScorer(_MetricScorer):
    name = "clip_i"
    same_size = False

    def build(self):
        from metrics.embedding.clip_i import CLIPImageScore  # deferred: torchmetrics

        model, processor = self.models.clip()
        return CLIPImageScore(model, processor, model_name=self.config.clip)


class _SetScorer(FolderScorer):
    """A distribution metric: ref images are the real set, pred images the generated set."""

    per_image = False
    same_size = False

    def __init__(self, config: ScoreConfig, models: ModelCache) -> None:
        super().__init__(config, models)
        from metrics.embedding.encoders import CLIPImageEncoder  # deferred: torchmetrics

        model, processor = models.clip()
        self.extractor = CLIPImageEncoder(model, processor, name=f"CLIP image embedding ({config.clip})")
        self.metric = self.build().to(models.device)

    def build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def update_set(self, images: list[torch.Tensor], real: bool) -> None:
        for a, b in _same_size_runs(images):
            self.metric.update(torch.stack(images[a:b]).to(self.models.device), real=real)

    def update(self, batch: Batch) -> None:
        return None


@SCORERS.register("fd")
class FDScorer(_SetScorer):
    name = "fd"

    def build(self):
        from metrics.distribution.frechet import FrechetDistance  # deferred: scipy, torchmetrics

        return FrechetDistance(self.extractor)

    def result(self) -> dict[str, Any]:
        return {"value": float(self.metric.compute()), **self.metric.describe()}


@SCORERS.register("kid")
class KIDScorer(_SetScorer):
    name = "kid"

    def build(self):
        from metrics.distribution.kid import KernelInceptionDistance  # deferred: scipy, torchmetrics

        return KernelInceptionDistance(
            self.extractor,
            subsets=self.config.kid_subsets,
            subset_size=self.config.kid_subset_size,
            seed=self.config.seed,
        )

    def result(self) -> dict[str, Any]:
        mean, std = self.metric.compute()
        return {"value": float(mean), "std": float(std), **self.metric.describe()}


# ---------------------------------------------------------------------------------------------- prompts
def read_prompts(path: str | Path) -> dict[str, str]:
    """Prompts by image name from a ``.json`` object (``{"0001.png": "a red circle", ...}``), a ``.csv``
    with ``name,prompt`` columns, or a text file of ``name<TAB>prompt`` lines. Names may carry the
    extension or not.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    prompts: dict[str, str] = {}
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise MetricInputError(f"{path}: a JSON prompts file must be an object {{image name: prompt}}")
        prompts = {str(k): v for k, v in data.items()}
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or not {"name", "prompt"} <= set(rows[0]):
            raise MetricInputError(f"{path}: a CSV prompts file needs 'name' and 'prompt' columns")
        prompts = {r["name"]: r["prompt"] for r in rows}
    else:
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise MetricInputError(f"{path}:{i}: expected 'name<TAB>prompt', got {line[:60]!r}")
            name, prompt = line.split("\t", 1)
            prompts[name.strip()] = prompt.strip()
    return {
        Path(k).stem
        if Path(k).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
        else k: v
        for k, v in prompts.items()
    }


# ---------------------------------------------------------------------------------------------- engine
@dataclass
class ScoreResult:
    """Per-image and aggregate numbers of a scoring run.

    Attributes:
        aggregate: metric -> value (mean over images for per-image metrics).
        per_image: image file name -> metric -> value.
        details: metric -> its settings (model, extractor, N, warnings ...).
        intervals: metric -> 95% bootstrap interval of the mean (per-image metrics).
    """

    aggregate: dict[str, float]
    per_image: dict[str, dict[str, float]]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "per_image": self.per_image,
            "details": self.details,
            "intervals": self.intervals,
            "skipped": self.skipped,
        }

    def write_csv(self, path: str | Path) -> None:
        """One row per image (``file`` + one column per per-image metric) and a last ``(aggregate)`` row,
        written atomically (a failed write leaves no half file)."""
        from workbench.io import atomic_write_text  # deferred: PIL

        columns = list(self.aggregate)
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["file", *columns])
        for name, values in self.per_image.items():
            writer.writerow([name, *(values.get(c, "") for c in columns)])
        writer.writerow(["(aggregate)", *(self.aggregate[c] for c in columns)])
        atomic_write_text(path, buffer.getvalue())


def _check_pair_sizes(
    scorers: list[FolderScorer], name: str, pred: torch.Tensor, ref: torch.Tensor, ref_name: str
) -> None:
    strict = [s.name for s in scorers if s.needs_ref and s.per_image and s.same_size]
    if strict and pred.shape != ref.shape:
        raise MetricInputError(
            f"mismatched sizes: {name} is {pred.shape[-1]}x{pred.shape[-2]} but {ref_name} is "
            f"{ref.shape[-1]}x{ref.shape[-2]} (width x height); {', '.join(strict)} compare pixels of equal-size "
            "images: resize one folder first"
        )


def _build_scorers(
    classes: list[type[FolderScorer]], config: ScoreConfig, models: ModelCache
) -> tuple[list[FolderScorer], dict[str, str]]:
    """The scorers that can run here, and ``{metric: why not}`` for those whose model weights are not
    on this machine (the others still score; only when none can run is it an error)."""
    scorers, skipped = [], {}
    for cls in classes:
        try:
            scorers.append(cls(config, models))
        except (ModelNotAvailableError, LPIPSWeightsError, FileNotFoundError) as exc:
            skipped[cls.name] = " ".join(line.strip() for line in str(exc).splitlines())
            logger.warning("%s skipped: %s", cls.name, skipped[cls.name])
    if not scorers:
        raise MetricInputError(
            "no metric can run here: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    return scorers, skipped


def score_folders(
    pred_dir: str | Path,
    ref_dir: str | Path | None = None,
    prompts_file: str | Path | None = None,
    config: ScoreConfig | None = None,
    **overrides: Any,
) -> ScoreResult:
    """Score the images of ``pred_dir`` (against ``ref_dir`` and/or prompts) with ``config.metrics``.

    Raises:
        KeyError: an unknown metric name (the message lists the known ones).
        MetricInputError: a metric's input is missing (no --ref / --prompts), or images mismatch.
        ImageReadError: unreadable or unpaired files (named).
    """
    config = config or ScoreConfig(**overrides)
    classes = [SCORERS.get(m) for m in dict.fromkeys(config.metrics)]
    if any(c.needs_ref for c in classes) and ref_dir is None:
        need = [c.name for c in classes if c.needs_ref]
        raise MetricInputError(f"{', '.join(need)} compare against reference images: pass --ref DIR")
    prompts = read_prompts(prompts_file) if prompts_file is not None else None
    if any(c.needs_prompts for c in classes) and prompts is None:
        need = [c.name for c in classes if c.needs_prompts]
        raise MetricInputError(f"{', '.join(need)} need a prompt per image: pass --prompts FILE")

    paired = any(c.needs_ref and c.per_image for c in classes)
    if paired:
        triples = pair_images(pred_dir, ref_dir)  # type: ignore[arg-type]
    else:
        preds = list_images(pred_dir)
        if not preds:
            raise ImageReadError(f"{pred_dir}: no images")
        triples = [(s, p, None) for s, p in preds.items()]
    if prompts is not None and any(c.needs_prompts for c in classes):
        missing = [p.name for s, p, _ in triples if s not in prompts]
        if missing:
            raise MetricInputError(f"no prompt for {len(missing)} images: {', '.join(missing[:10])}")

    models = ModelCache(config)
    scorers, skipped = _build_scorers(classes, config, models)
    per_image: dict[str, dict[str, float]] = {p.name: {} for _, p, _ in triples}
    per_values: dict[str, list[float]] = {s.name: [] for s in scorers if s.per_image}
    set_scorers = [s for s in scorers if isinstance(s, _SetScorer)]

    for start in range(0, len(triples), config.batch_size):
        chunk = triples[start : start + config.batch_size]
        names = [p.name for _, p, _ in chunk]
        preds_t = [load_image(p, config.alpha, config.max_pixels) for _, p, _ in chunk]
        refs_t = [load_image(r, config.alpha, config.max_pixels) for _, _, r in chunk] if paired else None
        if refs_t is not None:
            for (_, p, r), a, b in zip(chunk, preds_t, refs_t, strict=True):
                _check_pair_sizes(scorers, p.name, a, b, r.name)
        batch = Batch(names, preds_t, refs_t, [prompts[s] for s, _, _ in chunk] if prompts else None)
        for s in scorers:
            if isinstance(s, _SetScorer):
                s.update_set(preds_t, real=False)
                continue
            values = s.update(batch)
            for n, v in zip(names, values, strict=True):
                per_image[n][s.name] = v
            per_values[s.name].extend(values)

    if set_scorers:
        refs = list(list_images(ref_dir).values())  # type: ignore[arg-type]
        if not refs:
            raise ImageReadError(f"{ref_dir}: no images")
        for start in range(0, len(refs), config.batch_size):
            images = [
                load_image(p, config.alpha, config.max_pixels)
                for p in refs[start : start + config.batch_size]
            ]
            for s in set_scorers:
                s.update_set(images, real=True)

    aggregate, details, intervals = {}, {}, {}
    for s in scorers:
        res = s.result()
        aggregate[s.name] = res.pop("value")
        details[s.name] = res
        if s.per_image and config.bootstrap > 0:
            intervals[s.name] = bootstrap_ci(
                per_values[s.name], n_resamples=config.bootstrap, seed=config.seed
            ).as_dict()
    details["_settings"] = config.model_dump()
    return ScoreResult(aggregate, per_image, details, intervals, skipped)
