"""Visual paraphrase watermark removal: caption, then caption-guided image-to-image diffusion."""

from attacks.paraphrase.attack import VisualParaphrase, VisualParaphraseConfig
from attacks.paraphrase.captioners import (
    CAPTIONER_PRESETS,
    KOSMOS2_PROMPT,
    Captioner,
    FixedCaptioner,
    Kosmos2Captioner,
    TransformersCaptioner,
    load_captioner,
)
from attacks.paraphrase.img2img import img2img, native_size, vae_roundtrip
from attacks.paraphrase.sweep import paraphrase_sweep

__all__ = [
    "CAPTIONER_PRESETS",
    "KOSMOS2_PROMPT",
    "Captioner",
    "FixedCaptioner",
    "Kosmos2Captioner",
    "TransformersCaptioner",
    "VisualParaphrase",
    "VisualParaphraseConfig",
    "img2img",
    "load_captioner",
    "native_size",
    "paraphrase_sweep",
    "vae_roundtrip",
]
