"""Toy SD with attention at its finest level: the shipped toy SD's UNet plus a self- and cross-attention
transformer in each ResNet of the last decoder level (16x16 latents, ``CrossAttnUpBlock2D``), trained
alone on the toy world while everything else stays frozen.

The toy SD attends only at 8x8 and 4x4 (self-attention over 256 positions cost 40 % of a training step
on the CPU), where an object of the shapes world covers one or two tokens: there, self-attention places
objects rather than carrying their colour and texture. Methods that share appearance through
self-attention (FreeCustom's multi-reference self-attention, reference-only control) act where
Stable Diffusion's decoder attends at 32x32 and 64x64; this model gives them a level where appearance
lives. The new transformers' output projections start at zero, so before training the model predicts
exactly what the toy SD does.

    workbench toy train unet-hires --threads 2 --minutes 60       # resumable; exports to models/sd-hires
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DConditionModel

from .loop import EMA
from .registry import MODELS_DIR
from .unet import UNetTrainer

__all__ = ["HIRES_UP_BLOCKS", "HiResAttentionTrainer", "add_finest_attention"]

HIRES_UP_BLOCKS = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")


def add_finest_attention(unet: UNet2DConditionModel, base: UNet2DConditionModel) -> list[str]:
    """Load ``base`` (the same UNet without attention in its last up block) into ``unet`` and zero the new
    transformers' output projections, so ``unet`` predicts what ``base`` does.

    Returns:
        The names of the new parameters (``up_blocks.<last>.attentions.*``).

    Raises:
        ValueError: ``base`` is not ``unet`` minus the last up block's attention.
    """
    missing, unexpected = unet.load_state_dict(base.state_dict(), strict=False)
    last = f"up_blocks.{len(unet.up_blocks) - 1}.attentions."
    if unexpected or not missing or any(not k.startswith(last) for k in missing):
        raise ValueError(
            f"the base UNet does not fit (missing {missing[:3]}, unexpected {unexpected[:3]}): it must be the "
            "toy SD's UNet, whose last up block has no attention"
        )
    with torch.no_grad():
        for transformer in unet.up_blocks[-1].attentions:
            transformer.proj_out.weight.zero_()
            transformer.proj_out.bias.zero_()
    return missing


class HiResAttentionTrainer(UNetTrainer):
    """Trains the 16x16 decoder attention added to the shipped toy SD (see the module doc); the base UNet,
    VAE and text encoder are frozen. Checkpoints and exports hold the whole UNet.

    Args:
        base_dir: the toy SD pipeline folder whose UNet is extended.
        seed, batch_size, lr, image_size, device, uncond_prob, snr_gamma, reuse, parts: as
            :class:`UNetTrainer` (the text encoder stays frozen: no ``text_lr``).
    """

    name = "unet-hires"
    recipe = "attention-16x16-decoder-on-frozen-toy-sd"
    compatible_recipes = ()

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        lr: float = 5e-4,
        base_dir: Path = MODELS_DIR / "sd",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            text_lr=0.0,
            unet_config={"up_block_types": HIRES_UP_BLOCKS},
            **kwargs,
        )
        base = UNet2DConditionModel.from_pretrained(Path(base_dir) / "unet").to(self.device)
        self.new_parameters = set(add_finest_attention(self.unet, base))
        for name, p in self.unet.named_parameters():
            p.requires_grad_(name in self.new_parameters)
        trained = [p for p in self.unet.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW([{"params": trained, "lr": lr, "base_lr": lr}], weight_decay=1e-2)
        self.ema = EMA(self.unet, 0.999)

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(UNet2DConditionModel.from_pretrained(export_dir / "unet"))

    card_title = "Toy Stable Diffusion with 16x16 decoder attention (diffusers StableDiffusionPipeline)"
    card_description = (
        "The toy SD (models/sd) with a self- and cross-attention transformer added to each ResNet of the last "
        "decoder level (16x16 latents), output projections started at zero, trained alone on the toy world with "
        "the rest frozen (epsilon prediction, min-SNR-5, 10% caption dropout, EMA 0.999). For methods that share "
        "appearance through decoder self-attention (FreeCustom). Loads with `StableDiffusionPipeline.from_pretrained`."
    )
