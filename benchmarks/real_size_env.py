"""Where the real-size runs get their models and how they measure a step.

:class:`RealSizeEnv` hands out the real-size random-weight models (:mod:`workbench.real_size`) on one
device and precision, either loaded through :mod:`workbench.loading` from folders written with
``save_pretrained`` (``models_dir``: the path a downloaded model takes) or built in memory on the device
(``models_dir=None``: what the GPU suite does). :class:`UNetWindow` times a denoising step as the span
from the first UNet call's start to the last one's end, so text encoding, VAE encoding / decoding and
captioning fall outside it.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import torch

from workbench.runtime import Runtime

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class RealSizeEnv:
    """Real-size models on one device and precision, each built or loaded once (:meth:`keep` frees others).

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        precision: ``fp32``, ``fp16`` or ``bf16``.
        models_dir: a folder holding ``sd15/``, ``sd21-base/``, ``clip-l14/``, ``blip-base/`` written by
            ``benchmarks/real_size.py build``; ``None`` builds them in memory on ``device``.
        steps: denoising steps (mining steps) per measured call.
    """

    def __init__(
        self, device: str = "cpu", precision: str = "fp32", models_dir: Path | None = None, steps: int = 1
    ) -> None:
        self.runtime = Runtime(seed=0, device=device, precision=precision)
        self.device = self.runtime.device
        self.dtype = DTYPES[precision]
        self.precision = precision
        self.models_dir = models_dir
        self.steps = steps
        self._cache: dict[str, Any] = {}

    def folder(self, name: str) -> Path:
        """The saved folder of real-size model ``name``."""
        assert self.models_dir is not None
        path = self.models_dir / name
        if not path.is_dir():
            raise FileNotFoundError(
                f"{path} is missing: run `python benchmarks/real_size.py build {self.models_dir}`"
            )
        return path

    def keep(self, names: set[str]) -> None:
        """Drop every cached model whose key is not in ``names`` (frees GPU memory between modules)."""
        for key in [k for k in self._cache if k.split(":")[0] not in names]:
            del self._cache[key]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def sd(self, name: str = "sd15", kind: str = "txt2img") -> Any:
        """A real-size SD pipeline of ``kind`` (txt2img pipelines share one set of modules per model)."""
        from workbench.loading import load_sd_pipeline, sd_pipeline_class
        from workbench.real_size import real_sd_pipeline

        def make() -> Any:
            if kind != "txt2img":
                return sd_pipeline_class(kind)(**self.sd(name).components)
            if self.models_dir is not None:
                return load_sd_pipeline(str(self.folder(name)), self.runtime)
            return real_sd_pipeline(name, device=self.device, dtype=self.dtype)

        pipe = self._cached(f"{name}:{kind}", make)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def clip(self) -> tuple[Any, Any]:
        """CLIP ViT-L/14 and its processor."""
        from workbench.loading import load_clip
        from workbench.real_size import real_clip

        def make() -> tuple[Any, Any]:
            if self.models_dir is not None:
                return load_clip(str(self.folder("clip-l14")), self.runtime)
            return real_clip(device=self.device, dtype=self.dtype)

        return self._cached("clip-l14", make)

    def captioner(self) -> Any:
        """The BLIP-base captioner wrapped as the paraphrase attack uses it."""
        from attacks.paraphrase import TransformersCaptioner, load_captioner
        from workbench.real_size import real_captioner

        def make() -> Any:
            if self.models_dir is not None:
                return load_captioner(str(self.folder("blip-base")), runtime=self.runtime)
            return TransformersCaptioner(*real_captioner(device=self.device, dtype=self.dtype))

        return self._cached("blip-base", make)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def generators(self, n: int) -> list[torch.Generator]:
        return self.runtime.generators(range(n), "real-size")


class UNetWindow:
    """Times the span from the first UNet forward's start to the last one's end while installed."""

    def __init__(self, unet: torch.nn.Module, env: RealSizeEnv) -> None:
        self.unet, self.env = unet, env
        self.start: float | None = None
        self.end: float | None = None
        self.cpu_start = self.cpu_end = 0.0
        self.calls = 0
        self._handles: list[Any] = []

    def _pre(self, *_: Any, **__: Any) -> None:
        if self.start is None:
            self.env.sync()
            self.start = time.perf_counter()
            self.cpu_start = time.process_time()

    def _post(self, *_: Any, **__: Any) -> None:
        self.env.sync()
        self.end = time.perf_counter()
        self.cpu_end = time.process_time()
        self.calls += 1

    def __enter__(self) -> UNetWindow:
        self._handles = [
            self.unet.register_forward_pre_hook(self._pre),
            self.unet.register_forward_hook(self._post),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()

    @property
    def seconds(self) -> float:
        """The window's length (0 when the UNet never ran)."""
        return 0.0 if self.start is None or self.end is None else self.end - self.start

    @property
    def cpu_seconds(self) -> float:
        """Process CPU time (all threads) spent in the window: on a shared machine, wall time over
        threads is what the step costs when the cores are free."""
        return self.cpu_end - self.cpu_start


def timed(env: RealSizeEnv, fn: Any) -> tuple[Any, float]:
    """``(fn(), seconds)`` with the device synchronised on both ends."""
    env.sync()
    start = time.perf_counter()
    out = fn()
    env.sync()
    return out, time.perf_counter() - start


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory so far: ``torch.cuda.max_memory_allocated`` on a GPU, else the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
