"""The loaders: a resolved name -> the diffusers pipeline / transformers model and processor on the
runtime's device and dtype, in eval mode; ``check_model`` loads every model of a name."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from workbench.runtime import Runtime

from .checks import check_tokenizer, check_weights
from .errors import ModelNotAvailableError
from .resolve import PICKLE_SUFFIXES, SAFE_SUFFIX, ResolvedModel, _require, presets, resolve_model

logger = logging.getLogger("workbench.loading")


def _quiet_loading() -> None:
    """No per-file progress bars while loading (loading takes seconds; long work keeps its bars)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


_quiet_loading()

SD_PIPELINE_KINDS: dict[str, str] = {
    "txt2img": "StableDiffusionPipeline",
    "img2img": "StableDiffusionImg2ImgPipeline",
    "inpaint": "StableDiffusionInpaintPipeline",
}


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
            pipe = _from_single_file(cls, resolved.local_path, name, runtime, extra)
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


def _from_single_file(cls: Any, path: Path, name: str, runtime: Runtime, extra: dict[str, Any]) -> Any:
    """A pipeline from one checkpoint file; a file that is not a checkpoint raises a clear error."""
    if path.suffix.lower() not in PICKLE_SUFFIXES + (SAFE_SUFFIX,):
        raise ModelNotAvailableError(
            f"model {name!r}: {str(path)!r} is a file, not a model; pass a pipeline folder, a checkpoint "
            f"({SAFE_SUFFIX} or .ckpt), a preset or a hub id"
        )
    try:
        return cls.from_single_file(str(path), **_diffusers_dtype_kwarg(runtime.dtype), **extra)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelNotAvailableError(
            f"model {name!r}: the checkpoint file {str(path)!r} cannot be loaded ({type(exc).__name__}); "
            "pass a complete Stable Diffusion checkpoint or a pipeline folder"
        ) from exc


def _load_transformers(
    name: str, kind: str, runtime: Runtime, allow_pickle: bool, model_cls: Any, processor_cls: Any
):
    resolved = _require(name, kind)
    where = str(resolved.local_path) if resolved.local_path is not None else resolved.source
    local = {"local_files_only": True} if resolved.local_path is not None else {}
    if resolved.local_path is not None:
        if resolved.local_path.is_file():
            raise ModelNotAvailableError(
                f"model {name!r}: {str(resolved.local_path)!r} is a file; a {kind} model loads from a folder "
                "(config.json and weights), a preset or a hub id"
            )
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
    if name in presets():
        kinds = [kind] if kind else list(presets()[name].sources)
    else:
        kinds = [kind] if kind else [_guess_kind(name)]
    lines = []
    for k in kinds:
        if k not in LOADERS:
            resolved = resolve_model(name, kind=k if name in presets() else None)
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
