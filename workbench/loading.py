"""Model loading: a preset name, a Hugging Face hub id or a local folder -> the loaded diffusers /
transformers object on the runtime's device and dtype, in eval mode.

Rules:
- Offline (``HF_HUB_OFFLINE=1``, or set automatically when the hub does not answer within ~2 s) a model
  that is not in the local cache fails at once with :class:`ModelNotAvailableError` naming it and saying
  how to get it; there is no retry loop and no silent fallback to another model.
- Only safetensors weights are loaded by default. A folder that holds only pickle checkpoints (``.bin``,
  ``.ckpt``, ``.pt``, ``.pth``) raises :class:`UnsafeCheckpointError` unless ``allow_pickle=True``.
- A tokenizer that loads with a tiny vocabulary (< 100 tokens while the model expects more: what an
  incomplete offline download gives) raises :class:`BrokenTokenizerError`.

Example:
    >>> from workbench.runtime import Runtime
    >>> rt = Runtime(seed=0, device="cpu")
    >>> pipe = load_sd_pipeline("sd15", rt)  # doctest: +SKIP
    >>> model, processor = load_clip("clip-b32", rt)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "SD_PIPELINE_KINDS",
    "BrokenTokenizerError",
    "ModelNotAvailableError",
    "Preset",
    "ResolvedModel",
    "UnsafeCheckpointError",
    "check_model",
    "hub_offline",
    "load_captioner",
    "load_clip",
    "load_sd_pipeline",
    "load_vision_model",
    "resolve_model",
    "sd_pipeline_class",
]

ModelKind = Literal["sd", "clip", "captioner", "judge", "vision"]
MODEL_KINDS: tuple[str, ...] = ("sd", "clip", "captioner", "judge", "vision")

SD_PIPELINE_KINDS: dict[str, str] = {
    "txt2img": "StableDiffusionPipeline",
    "img2img": "StableDiffusionImg2ImgPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
}

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
SAFE_SUFFIX = ".safetensors"
MIN_VOCAB = 100
TOY_MODELS_DIR = Path(__file__).resolve().parent / "toy" / "models"


class ModelNotAvailableError(RuntimeError):
    """The model cannot be loaded here (not cached offline, missing folder, unknown name)."""


class UnsafeCheckpointError(RuntimeError):
    """Only pickle checkpoints were found and ``allow_pickle=True`` was not given."""


class BrokenTokenizerError(ModelNotAvailableError):
    """The tokenizer loaded with a tiny vocabulary: its files are missing or incomplete."""


@dataclass(frozen=True)
class Preset:
    """A named model set: one source (hub id or local folder) per model kind."""

    name: str
    sources: dict[str, str]
    description: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "toy",
            {kind: str(TOY_MODELS_DIR / kind) for kind in ("sd", "clip", "captioner", "judge")},
            "the embedded toy world's models (shapes world), trained by the project",
        ),
        Preset(
            "sd15", {"sd": "stable-diffusion-v1-5/stable-diffusion-v1-5"}, "Stable Diffusion 1.5 (512 px)"
        ),
        Preset(
            "sd21", {"sd": "stabilityai/stable-diffusion-2-1"}, "Stable Diffusion 2.1 (768 px, v-prediction)"
        ),
        Preset("sd-turbo", {"sd": "stabilityai/sd-turbo"}, "SD-Turbo (1-4 steps, guidance 0)"),
        Preset("clip-b32", {"clip": "openai/clip-vit-base-patch32"}, "OpenAI CLIP ViT-B/32"),
        Preset("clip-l14", {"clip": "openai/clip-vit-large-patch14"}, "OpenAI CLIP ViT-L/14"),
        Preset("blip", {"captioner": "Salesforce/blip-image-captioning-base"}, "BLIP captioner (base)"),
        Preset("kosmos2", {"captioner": "microsoft/kosmos-2-patch14-224"}, "KOSMOS-2 captioner"),
        Preset("dinov2", {"vision": "facebook/dinov2-small"}, "DINOv2 ViT-S/14 features"),
    ]
}


@dataclass
class ResolvedModel:
    """Where a model would load from, and whether it can here.

    Attributes:
        name: what the caller asked for (preset, hub id or path).
        kind: ``sd``, ``clip``, ``captioner``, ``judge`` or ``vision``.
        source: the hub id or folder it maps to.
        local_path: the folder to load from (local folder or hub cache snapshot); ``None`` when it must
            be downloaded first.
        available: whether loading can succeed here.
        reason: a human explanation (how to get it when unavailable).
    """

    name: str
    kind: str | None
    source: str
    local_path: Path | None
    available: bool
    reason: str
    origin: Literal["local", "hub", "unknown"] = "unknown"
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- offline
_OFFLINE_CHECKED: dict[str, bool] = {}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline(timeout: float = 2.0) -> bool:
    """Whether the hub is to be treated as offline.

    ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``) means offline. Otherwise the hub's host is
    probed once per process; when it does not answer within ``timeout`` seconds, ``HF_HUB_OFFLINE=1`` is
    set for this process (and for huggingface_hub) so no library retries the network.
    """
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if endpoint not in _OFFLINE_CHECKED:
        _OFFLINE_CHECKED[endpoint] = not _reachable(endpoint, timeout)
        if _OFFLINE_CHECKED[endpoint]:
            logger.warning(
                "the Hugging Face hub (%s) is not reachable; working offline (HF_HUB_OFFLINE=1)", endpoint
            )
            os.environ["HF_HUB_OFFLINE"] = "1"
            try:
                import huggingface_hub.constants as hf_constants

                hf_constants.HF_HUB_OFFLINE = True
            except ImportError:  # pragma: no cover
                pass
    return _OFFLINE_CHECKED[endpoint]


def _reachable(endpoint: str, timeout: float) -> bool:
    """TCP-connect to the endpoint's host in a thread (DNS included) with a hard ``timeout``."""
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _hub_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


# ---------------------------------------------------------------------------------------------- resolving
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")


def _how_to_get(repo_id: str) -> str:
    return (
        f"on a machine with internet run `huggingface-cli download {repo_id}` (or `hf download {repo_id}`) and "
        f"copy the Hugging Face cache here (set HF_HOME to it), or download it to a folder and pass that folder's path"
    )


def resolve_model(name: str, kind: str | None = None) -> ResolvedModel:
    """Find where ``name`` (preset, local path or hub id) would load from, without loading it.

    Args:
        name: a preset from :data:`PRESETS`, a local folder / file, or a hub id (``owner/model``).
        kind: the model kind wanted from a preset with several (``toy`` has sd, clip, captioner, judge).

    Raises:
        ValueError: ``kind`` is missing or not in the preset.
    """
    if kind is not None and kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(MODEL_KINDS)}")
    if name in PRESETS:
        preset = PRESETS[name]
        if kind is None:
            if len(preset.sources) != 1:
                raise ValueError(
                    f"preset {name!r} has several models ({', '.join(preset.sources)}); pass kind="
                )
            kind = next(iter(preset.sources))
        if kind not in preset.sources:
            raise ValueError(f"preset {name!r} has no {kind} model; it has: {', '.join(preset.sources)}")
        source = preset.sources[kind]
        if name == "toy":
            return _resolve_toy(kind, Path(source))
        resolved = _resolve_hub(source, kind)
        resolved.name = name
        return resolved
    path = Path(name).expanduser()
    if path.exists():
        return ResolvedModel(name, kind, str(path), path.resolve(), True, "local path", origin="local")
    if name.startswith(("/", "./", "../", "~")) or path.suffix.lower() in PICKLE_SUFFIXES + (SAFE_SUFFIX,):
        return ResolvedModel(
            name, kind, name, None, False, f"no such file or folder: {name!r}", origin="local"
        )
    if _HUB_ID.match(name):
        return _resolve_hub(name, kind)
    known = ", ".join(PRESETS)
    return ResolvedModel(
        name,
        kind,
        name,
        None,
        False,
        f"{name!r} is not a preset ({known}), an existing path, or a hub id (owner/model)",
    )


_TOY_TRAINERS = {"sd": "unet", "clip": "clip", "captioner": "captioner", "judge": "judge"}


def _resolve_toy(kind: str, folder: Path) -> ResolvedModel:
    if folder.is_dir() and any(folder.rglob("*" + SAFE_SUFFIX)):
        return ResolvedModel("toy", kind, str(folder), folder, True, "shipped toy model", origin="local")
    return ResolvedModel(
        "toy",
        kind,
        str(folder),
        None,
        False,
        f"toy {kind} model not trained yet ({folder} has no weights); train it with "
        f"`workbench toy train {_TOY_TRAINERS.get(kind, kind)}` or use the random-weight components of workbench.dummy",
        origin="local",
    )


def _resolve_hub(repo_id: str, kind: str | None) -> ResolvedModel:
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo_id, local_files_only=True))
        return ResolvedModel(
            repo_id, kind, repo_id, local, True, f"in the Hugging Face cache ({local})", origin="hub"
        )
    except Exception as exc:  # LocalEntryNotFoundError and friends: not cached
        cached_error = exc
    if hub_offline():
        return ResolvedModel(
            repo_id,
            kind,
            repo_id,
            None,
            False,
            f"model {repo_id!r} is not in the local Hugging Face cache ({_hub_cache_dir()}) and the hub is offline "
            f"(HF_HUB_OFFLINE=1); {_how_to_get(repo_id)}",
            origin="hub",
            details={"cache_error": f"{type(cached_error).__name__}"},
        )
    return ResolvedModel(
        repo_id,
        kind,
        repo_id,
        None,
        True,
        "not cached; will download from the Hugging Face hub",
        origin="hub",
    )


def _require(name: str, kind: str) -> ResolvedModel:
    resolved = resolve_model(name, kind=kind if name in PRESETS else None)
    resolved.kind = kind
    if not resolved.available:
        raise ModelNotAvailableError(f"cannot load {kind} model {name!r}: {resolved.reason}")
    return resolved


# ---------------------------------------------------------------------------------------------- safety checks
def check_weights(folder: Path, name: str, allow_pickle: bool) -> None:
    """Refuse a folder whose weights are pickle checkpoints only (checked per component sub-folder).

    Raises:
        UnsafeCheckpointError: pickle-only weights and ``allow_pickle`` is False.
        ModelNotAvailableError: no weights at all.
    """
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
            raise UnsafeCheckpointError(_unsafe_message(name, [folder]))
        return
    groups: dict[Path, list[Path]] = {}
    for f in folder.rglob("*"):
        if f.is_file() and (f.suffix == SAFE_SUFFIX or f.suffix.lower() in PICKLE_SUFFIXES):
            groups.setdefault(f.parent, []).append(f)
    if not groups:
        raise ModelNotAvailableError(
            f"model {name!r}: no weight files (*.safetensors) found in {str(folder)!r}; the folder is incomplete"
        )
    unsafe = [
        f for files in groups.values() if not any(f.suffix == SAFE_SUFFIX for f in files) for f in files
    ]
    if unsafe and not allow_pickle:
        raise UnsafeCheckpointError(_unsafe_message(name, unsafe))


def _unsafe_message(name: str, files: list[Path]) -> str:
    shown = ", ".join(str(f) for f in files[:4]) + (" ..." if len(files) > 4 else "")
    return (
        f"model {name!r} has only pickle checkpoints ({shown}); pickle files can run arbitrary code when loaded. "
        "Convert them to safetensors, or pass allow_pickle=True if you trust the source"
    )


def check_tokenizer(tokenizer: Any, expected_vocab: int | None, name: str) -> None:
    """Raise :class:`BrokenTokenizerError` when ``tokenizer`` has < 100 tokens but the model expects more."""
    if tokenizer is None:
        return
    size = len(tokenizer)
    if size < MIN_VOCAB and (expected_vocab is None or expected_vocab > size):
        raise BrokenTokenizerError(
            f"model {name!r}: its tokenizer loaded with only {size} tokens (the model expects "
            f"{expected_vocab if expected_vocab is not None else 'many more'}); the tokenizer files "
            f"(tokenizer.json or vocab.json + merges.txt) are missing or incomplete. {_how_to_get(name)}"
        )


def _to_runtime(module: Any, runtime: Runtime) -> Any:
    module.to(device=runtime.device, dtype=runtime.dtype)
    module.eval()
    return module


def _diffusers_dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """``{"dtype": ...}`` on diffusers versions that renamed ``torch_dtype``, else ``{"torch_dtype": ...}``."""
    try:
        from diffusers.utils import deprecation_utils

        renamed = hasattr(deprecation_utils, "_resolve_dtype")
    except ImportError:
        renamed = False
    return {"dtype": dtype} if renamed else {"torch_dtype": dtype}


def _weights_kwargs(allow_pickle: bool) -> dict[str, Any]:
    return {} if allow_pickle else {"use_safetensors": True}


# ---------------------------------------------------------------------------------------------- loaders
def sd_pipeline_class(kind: str) -> Any:
    """The diffusers pipeline class for ``kind`` (one of :data:`SD_PIPELINE_KINDS`)."""
    import diffusers

    if kind not in SD_PIPELINE_KINDS:
        raise ValueError(f"unknown pipeline kind {kind!r}; allowed: {', '.join(SD_PIPELINE_KINDS)}")
    return getattr(diffusers, SD_PIPELINE_KINDS[kind])


def load_sd_pipeline(
    name: str,
    runtime: Runtime,
    kind: str = "txt2img",
    allow_pickle: bool = False,
    safety_checker: bool = False,
) -> Any:
    """Load a Stable Diffusion pipeline.

    Args:
        name: preset (``toy``, ``sd15``, ``sd21``, ``sd-turbo``), hub id or local pipeline folder (or a
            single checkpoint file, loaded with ``from_single_file``).
        runtime: device and dtype of the result.
        kind: ``"txt2img"``, ``"img2img"`` or ``"inpaint"``.
        allow_pickle: accept pickle checkpoints.
        safety_checker: keep the repository's safety checker (off by default for research use).

    Returns:
        The diffusers pipeline on ``runtime.device`` in ``runtime.dtype``.

    Raises:
        ModelNotAvailableError, UnsafeCheckpointError, BrokenTokenizerError.
    """
    cls = sd_pipeline_class(kind)
    resolved = _require(name, "sd")
    start = time.perf_counter()
    extra: dict[str, Any] = (
        {} if safety_checker else {"safety_checker": None, "requires_safety_checker": False}
    )
    if resolved.local_path is not None:
        check_weights(resolved.local_path, name, allow_pickle)
        if resolved.local_path.is_file():
            pipe = cls.from_single_file(
                str(resolved.local_path), **_diffusers_dtype_kwarg(runtime.dtype), **extra
            )
        else:
            pipe = cls.from_pretrained(
                str(resolved.local_path),
                local_files_only=True,
                **_diffusers_dtype_kwarg(runtime.dtype),
                **extra,
                **_weights_kwargs(allow_pickle),
            )
    else:
        pipe = cls.from_pretrained(
            resolved.source, **_diffusers_dtype_kwarg(runtime.dtype), **extra, **_weights_kwargs(allow_pickle)
        )
    text_encoder = getattr(pipe, "text_encoder", None)
    check_tokenizer(
        getattr(pipe, "tokenizer", None),
        getattr(getattr(text_encoder, "config", None), "vocab_size", None),
        name,
    )
    pipe.to(runtime.device)
    logger.info(
        "loaded %s pipeline %r from %s in %.1f s",
        kind,
        name,
        resolved.local_path or resolved.source,
        time.perf_counter() - start,
    )
    return pipe


def _load_transformers(
    name: str, kind: str, runtime: Runtime, allow_pickle: bool, model_cls: Any, processor_cls: Any
):
    resolved = _require(name, kind)
    where = str(resolved.local_path) if resolved.local_path is not None else resolved.source
    local = {"local_files_only": True} if resolved.local_path is not None else {}
    if resolved.local_path is not None:
        check_weights(resolved.local_path, name, allow_pickle)
    start = time.perf_counter()
    model_cls = model_cls or _architecture_class(resolved, name)
    model = model_cls.from_pretrained(where, **local, **_weights_kwargs(allow_pickle))
    processor = processor_cls.from_pretrained(where, **local)
    tokenizer = getattr(processor, "tokenizer", None)
    text_config = getattr(model.config, "text_config", None)
    check_tokenizer(tokenizer, getattr(text_config, "vocab_size", None), name)
    model = _to_runtime(model, runtime)
    logger.info("loaded %s model %r from %s in %.1f s", kind, name, where, time.perf_counter() - start)
    return model, processor


def _architecture_class(resolved: ResolvedModel, name: str) -> Any:
    """The transformers class named by ``config.json``'s ``architectures`` (AutoModel otherwise)."""
    import json

    import transformers

    if resolved.local_path is not None and (resolved.local_path / "config.json").is_file():
        config = json.loads((resolved.local_path / "config.json").read_text())
        for arch in config.get("architectures") or []:
            if hasattr(transformers, arch):
                return getattr(transformers, arch)
    for auto in ("AutoModelForImageTextToText", "AutoModelForVision2Seq", "AutoModel"):
        if hasattr(transformers, auto):
            return getattr(transformers, auto)
    raise ModelNotAvailableError(
        f"model {name!r}: cannot tell which transformers class loads it"
    )  # pragma: no cover


def load_clip(name: str, runtime: Runtime, allow_pickle: bool = False) -> tuple[Any, Any]:
    """Load a CLIP model and its processor.

    Returns:
        ``(model, processor)``: `transformers.CLIPModel` in eval mode on the runtime's device / dtype, and
        the `CLIPProcessor` (tokenizer + image processor; its tokenizer is checked for a real vocabulary).
    """
    from transformers import CLIPModel, CLIPProcessor

    return _load_transformers(name, "clip", runtime, allow_pickle, CLIPModel, CLIPProcessor)


def load_captioner(name: str, runtime: Runtime, allow_pickle: bool = False) -> tuple[Any, Any]:
    """Load an image captioner (BLIP, KOSMOS-2, GIT, VisionEncoderDecoder: the class named in its config).

    Returns:
        ``(model, processor)``; ``model.generate(**processor(images=..., return_tensors="pt"))`` gives ids that
        ``processor.batch_decode(ids, skip_special_tokens=True)`` turns into captions.
    """
    from transformers import AutoProcessor

    return _load_transformers(name, "captioner", runtime, allow_pickle, None, AutoProcessor)


def load_vision_model(name: str, runtime: Runtime, allow_pickle: bool = False) -> tuple[Any, Any]:
    """Load a vision backbone (e.g. ``dinov2``) with ``AutoModel`` and its ``AutoImageProcessor``."""
    from transformers import AutoImageProcessor, AutoModel

    return _load_transformers(name, "vision", runtime, allow_pickle, AutoModel, AutoImageProcessor)


LOADERS = {
    "sd": load_sd_pipeline,
    "clip": load_clip,
    "captioner": load_captioner,
    "vision": load_vision_model,
}


def check_model(name: str, kind: str | None = None, runtime: Runtime | None = None) -> list[str]:
    """Load every model of ``name`` (each kind of a preset) on the CPU; returns one line per model loaded.

    Raises:
        ModelNotAvailableError, UnsafeCheckpointError: the first model that cannot load.
    """
    runtime = runtime or Runtime(seed=0, device="cpu")
    if name in PRESETS:
        kinds = [kind] if kind else list(PRESETS[name].sources)
    else:
        kinds = [kind] if kind else [_guess_kind(name)]
    lines = []
    for k in kinds:
        if k not in LOADERS:
            resolved = resolve_model(name, kind=k if name in PRESETS else None)
            if not resolved.available:
                raise ModelNotAvailableError(f"cannot load {k} model {name!r}: {resolved.reason}")
            lines.append(f"{name} [{k}]: present at {resolved.local_path} (loaded by its own package)")
            continue
        LOADERS[k](name, runtime)
        lines.append(f"{name} [{k}]: loads")
    return lines


def _guess_kind(name: str) -> str:
    """The kind of a hub id / folder: a pipeline folder (model_index.json) is ``sd``; else by config."""
    resolved = resolve_model(name)
    if not resolved.available:
        raise ModelNotAvailableError(f"cannot load model {name!r}: {resolved.reason}")
    folder = resolved.local_path
    if folder is None:
        lowered = name.lower()
        return "sd" if "diffusion" in lowered or "sd" in lowered.split("/")[-1] else "clip"
    if (folder / "model_index.json").is_file() or folder.is_file():
        return "sd"
    config = folder / "config.json"
    text = config.read_text() if config.is_file() else ""
    if '"clip"' in text:
        return "clip"
    if "ForConditionalGeneration" in text or "VisionEncoderDecoder" in text or "Vision2Seq" in text:
        return "captioner"
    return "vision"
