"""Visual paraphrase: caption the image, then regenerate it with caption-guided img2img diffusion.

After "The Brittleness of AI-Generated Image Watermarking Techniques: Examining Their Robustness
Against Visual Paraphrasing Attacks": a captioner (KOSMOS-2 in the paper) describes the watermarked
image; image-to-image diffusion started from that image, at paraphrase strength ``s`` and guidance
``g``, redraws it from the caption. The best removal/quality trade-off is reported near ``s <= 0.4``
and ``g`` in 4-7.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from pydantic import Field

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack, check_images
from attacks.image.models import AttackModels
from attacks.image.registry import IMAGE_ATTACKS
from attacks.paraphrase.captioners import Captioner
from attacks.paraphrase.img2img import img2img
from workbench.sampling import PIPELINE_SAMPLING, WORKBENCH_SAMPLING

logger = logging.getLogger(__name__)


class VisualParaphraseConfig(AttackConfig):
    """Args:
    strength: the img2img strength ``s`` (fraction of the noise schedule the image is pushed
        through; 0 only passes it through the VAE).
    guidance_scale: classifier-free guidance ``g`` towards the caption.
    num_inference_steps: diffusion steps at strength 1 (``int(steps * s)`` are run).
    model: img2img model: preset (``toy``, ``sd15``, ...), hub id or local folder.
    captioner: captioner preset (``toy``, ``blip-base``, ``blip-large``, ``kosmos2``), hub id,
        ``"none"`` (empty caption) or ``"fixed:<text>"``.
    caption: a user-given caption for every image (overrides ``captioner``).
    resolution: ``"native"`` (the model's training size), ``"input"`` or an int side.
    negative_prompt: optional negative prompt.
    decoder_inversion_steps: Adam steps fitting the starting latents to the image through the VAE
        decoder before noising (0: the encoder's latents, as in the paper); see
        :func:`attacks.paraphrase.img2img.img2img`.
    decoder_inversion_lr: their learning rate.
    """

    strength: float = 0.4
    guidance_scale: float = WORKBENCH_SAMPLING.guidance_scale
    num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps  # at strength 1, as diffusers' img2img
    model: str = "toy"
    captioner: str = "toy"
    caption: str | None = None
    resolution: int | str = "native"
    negative_prompt: str | None = None
    decoder_inversion_steps: int = Field(0, ge=0)
    decoder_inversion_lr: float = Field(0.1, gt=0)


@IMAGE_ATTACKS.register("paraphrase")
class VisualParaphrase(ImageAttack):
    """Caption-guided image-to-image regeneration (batched: one captioner and one pipeline call).

    Args:
        config: :class:`VisualParaphraseConfig` or its fields.
        models: where the img2img pipeline and captioner come from (loaded on first use).

    Example:
        >>> from workbench.dummy import dummy_sd_pipeline
        >>> models = AttackModels(img2img={"toy": dummy_sd_pipeline("img2img")})
        >>> attack = VisualParaphrase(strength=0.5, num_inference_steps=2, caption="a red circle", models=models)
        >>> attack(torch.rand(2, 3, 32, 32), [torch.Generator().manual_seed(i) for i in range(2)]).shape
        torch.Size([2, 3, 32, 32])
    """

    name = "paraphrase"
    config_class = VisualParaphraseConfig

    def __init__(
        self,
        config: VisualParaphraseConfig | dict[str, Any] | None = None,
        models: AttackModels | None = None,
        **kw,
    ) -> None:
        super().__init__(config, models=models, **kw)
        self.last_captions: list[str] = []

    @property
    def pipe(self) -> Any:
        return self.models.img2img(self.config.model)

    @property
    def captioner(self) -> Captioner:
        return self.models.captioner(self.config.captioner)

    def parameters(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "img2img_strength": cfg.strength,
            "guidance_scale": cfg.guidance_scale,
            "denoising_steps": int(cfg.num_inference_steps * cfg.strength),
            "captioner": "user caption" if cfg.caption is not None else cfg.captioner,
            "decoder_inversion_steps": cfg.decoder_inversion_steps,
        }

    def captions_for(self, images: torch.Tensor, captions: list[str] | None = None) -> list[str]:
        """The captions that guide the paraphrase: given ones, the configured caption, else the captioner's."""
        if captions is not None:
            if len(captions) != images.shape[0]:
                raise ValueError(f"got {len(captions)} captions for {images.shape[0]} images")
            return list(captions)
        if self.config.caption is not None:
            return [self.config.caption] * images.shape[0]
        return self.captioner.caption(images)

    @torch.no_grad()
    def __call__(
        self, images: torch.Tensor, generator: GeneratorArg = None, captions: list[str] | None = None
    ) -> torch.Tensor:
        """Paraphrase a batch.

        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].
            generator: one `torch.Generator` per image (results independent of batching) or one shared.
            captions: ground-truth or user captions, one per image (skip the captioner).

        Returns:
            `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1]; the captions used are in ``last_captions``.
        """
        check_images(images)
        self.last_captions = self.captions_for(images, captions)
        out = img2img(
            self.pipe,
            images,
            self.last_captions,
            strength=self.config.strength,
            guidance_scale=self.config.guidance_scale,
            num_inference_steps=self.config.num_inference_steps,
            generator=generator,
            resolution=self.config.resolution,
            negative_prompt=self.config.negative_prompt,
            decoder_inversion_steps=self.config.decoder_inversion_steps,
            decoder_inversion_lr=self.config.decoder_inversion_lr,
        )
        return out.clamp(0, 1).to(dtype=images.dtype)
