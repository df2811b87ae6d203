"""A second toy CLIP, fine-tuned from the shipped one on decoded and augmented images.

The shipped toy CLIP saw only clean rendered scenes: its master images (CLIPMasterPrints) are per-pixel
noise, which no toy decoder draws, so latent-space mining fools it on 0 % of the prompts. A real CLIP is
trained on natural images (compressed, blurred, noisy, textured) with augmentation, and its master images
are ones Stable Diffusion's VAE draws. This trainer continues the toy CLIP with the same objective on
images passed through the toy SD's VAE round trip and augmented (:mod:`.augment`); it exports to
``models/clip-aug`` beside the original.

    workbench toy train clip-aug --threads 2 --minutes 40     # resumable; exports to models/clip-aug
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from transformers import CLIPModel

from ..world import SceneBatch
from .augment import AugmentConfig, augment
from .clip import CLIPTrainer
from .data import step_generator
from .registry import MODELS_DIR

__all__ = ["DecodedAugmentedCLIPTrainer"]


class DecodedAugmentedCLIPTrainer(CLIPTrainer):
    """The toy CLIP's recipe on decoded and augmented images, warm-started from ``base_dir``.

    Args:
        base_dir: the shipped toy CLIP the fine-tuning starts from.
        vae_dir: the VAE of the round trips (``None``: the toy SD's, the decoder latent mining searches).
        augment_config: what is applied to the images (:class:`~.augment.AugmentConfig`).
        warmup: steps of linear learning-rate warm-up (the patch and embedding heads start afresh).
        seed, batch_size, lr, device and the rest: as :class:`~.clip.CLIPTrainer`.
    """

    name = "clip-aug"
    recipe = "fixed-temperature-100-short-captions-shape-head-decoded-augmented"
    compatible_recipes = ()  # warm starts only from its own exports (the first start loads ``base_dir``)
    eval_command = "workbench toy eval --only clip (with models/clip-aug); see docs/toyworld.md"

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 2e-4,
        device: str | None = None,
        base_dir: Path = MODELS_DIR / "clip",
        vae_dir: Path | None = None,
        augment_config: AugmentConfig = AugmentConfig(),
        warmup: int = 50,
        **clip_options: Any,
    ) -> None:
        super().__init__(seed=seed, batch_size=batch_size, lr=lr, device=device, **clip_options)
        if not any(Path(base_dir).glob("*.safetensors")):
            raise FileNotFoundError(
                f"no toy CLIP in {base_dir} to fine-tune: train it first (`workbench toy train clip`)"
            )
        vae_dir = Path(vae_dir) if vae_dir is not None else _toy_vae_dir()
        self.augment_config, self.warmup = augment_config, warmup
        self.warm_start_from(CLIPModel.from_pretrained(base_dir))
        self.base_dir = Path(base_dir)
        self.vae = (
            AutoencoderKL.from_pretrained(
                str(vae_dir), use_safetensors=True, local_files_only=True, torch_dtype=torch.float32
            )
            .to(self.device)
            .eval()
            .requires_grad_(False)
        )

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / self.warmup)

    def images(self, batch: SceneBatch, step: int) -> torch.Tensor:
        return augment(batch.images, self.augment_config, step_generator(self.seed, step, 17), vae=self.vae)

    def model_card(self) -> tuple[str, str]:
        return (
            "Toy CLIP, decoded-augmented (transformers CLIPModel + CLIPTokenizer)",
            "The toy CLIP (`toyworld/models/clip`) fine-tuned with its own recipe (fixed temperature 1/100, "
            "shape twins, short captions, shape heads) on images augmented as a natural-image CLIP's are: "
            f"{self.augment_config}. `decoded` is the share of images replaced by their round trip through "
            "the toy SD's VAE. A second toy CLIP for CLIPMasterPrints in the toy VAE's latent (preset "
            "`toy-clip-aug`; docs/toyworld.md, 'The decoded-augmented toy CLIP').",
        )


def _toy_vae_dir() -> Path:
    """The toy SD's VAE, or the standalone toy VAE it is built from (before the SD exists)."""
    for folder in (MODELS_DIR / "sd" / "vae", MODELS_DIR / "vae"):
        if any(folder.glob("*.safetensors")):
            return folder
    raise FileNotFoundError(f"no toy VAE in {MODELS_DIR}: train it first (`workbench toy train vae`)")
