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

from .checks import check_tokenizer, check_weights
from .errors import BrokenTokenizerError, ModelNotAvailableError, UnsafeCheckpointError
from .hub import hub_offline
from .resolve import MODEL_KINDS, PRESETS, Preset, ResolvedModel, presets, register_preset, resolve_model

__all__ = [
    "LOADERS",
    "MODEL_KINDS",
    "PRESETS",
    "SD_PIPELINE_KINDS",
    "BrokenTokenizerError",
    "ModelNotAvailableError",
    "Preset",
    "ResolvedModel",
    "UnsafeCheckpointError",
    "check_model",
    "check_tokenizer",
    "check_weights",
    "hub_offline",
    "load_captioner",
    "load_clip",
    "load_sd_pipeline",
    "load_vision_model",
    "presets",
    "register_preset",
    "resolve_model",
    "sd_pipeline_class",
]

# The loaders import torch, diffusers and transformers: they load on first use, so that resolving names
# and registering presets (what plugins do at start-up) stay cheap.
_LOADER_NAMES = frozenset(
    {
        "LOADERS",
        "SD_PIPELINE_KINDS",
        "check_model",
        "load_captioner",
        "load_clip",
        "load_sd_pipeline",
        "load_vision_model",
        "sd_pipeline_class",
    }
)


def __getattr__(name: str):
    if name in _LOADER_NAMES:
        from . import loaders  # deferred: numpy, torch

        return getattr(loaders, name)
    raise AttributeError(f"module 'workbench.loading' has no attribute {name!r}")
