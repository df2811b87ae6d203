"""Generation-time watermarks that live in the initial latent noise of a diffusion model.

Embedding happens at generation: :meth:`LatentWatermark.generate` draws the initial noise, writes
the key into it and runs the pipeline from it. Detection inverts the image back to its initial noise
with DDIM (:func:`~attacks.watermarks.inversion.ddim_invert`) and reads the key there. ``embed`` on an
existing image does the same through inversion: invert, write the key, regenerate with the empty
prompt (content stays close where the key leaves the noise close).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field, field_validator

from attacks.image.base import check_images, per_image_generators
from attacks.image.ops import resize
from attacks.paraphrase.captioners import load_captioner
from attacks.watermarks.base import Watermark, WatermarkConfig
from attacks.watermarks.exact_inversion import exact_invert_latents
from attacks.watermarks.inversion import (
    ddim_invert,
    ddim_pipeline,
    empty_prompt_embeds,
    encode_images,
    refine_latents,
    vae_factor,
)
from attacks.watermarks.payload import PayloadLike, bit_agreement, parse_payload
from workbench import loading
from workbench.latents import load_inversion_vae
from workbench.loading.inversion import check_inversion_vae, inversion_vae_folder
from workbench.runtime import Runtime
from workbench.sampling import PIPELINE_SAMPLING

if TYPE_CHECKING:
    from workbench.runtime import Runtime

logger = logging.getLogger(__name__)


class LatentWatermarkConfig(WatermarkConfig):
    """Args:
    model: the diffusion model (preset, hub id or local folder) used when no pipeline is passed.
    num_inference_steps: DDIM steps of watermarked generation.
    guidance_scale: classifier-free guidance of watermarked generation.
    inversion_steps: DDIM inversion steps at detection.
    inversion: ``"ddim"``: diffusers' ``DDIMInverseScheduler`` with the empty prompt at guidance 1 (the
        Tree-Ring paper's detector); ``"exact"``: fixed-point inversion of each step of the generation's
        own DDIM schedule (:func:`~attacks.watermarks.exact_inversion.exact_invert_latents`), with the
        prompt and guidance below.
    inversion_iterations: ``"exact"`` only: fixed-point refinements per inversion step (0: plain DDIM
        inversion on the generation's timesteps).
    inversion_prompt: ``"exact"`` only: the prompt the inversion follows: ``"empty"``, or ``"caption"``
        (the ``captioner``'s caption of the image being checked; the detector never sees the prompt).
    inversion_guidance_scale: ``"exact"`` only: classifier-free guidance of the inversion (``None``: the
        generation's ``guidance_scale``; 1: the prompt alone).
    captioner: captioner preset for ``inversion_prompt: caption`` (see :mod:`attacks.paraphrase.captioners`).
    decoder_inversion_steps: Adam steps of decoder inversion before DDIM inversion (0: the encoder's
        latents as they are; see :func:`~attacks.watermarks.inversion.refine_latents`).
    decoder_inversion_lr: its learning rate.
    decoder_inversion_size: ``"model"``: decoder inversion fits the image resized to :attr:`image_size`;
        ``"input"``: at the size it is given (the decoder's output resized to it: an image resized after
        generation is fitted through that resize).
    latent_size: side of the latent the key is made for (``None``: the UNet's ``sample_size``).
    inversion_vae: the encoder that maps images to the latents inverted at detection: ``"auto"`` (the
        model preset's inversion encoder where it ships one, e.g. ``toy``'s ``models/vae-inv``, and the
        pipeline is that preset's SD; else the pipeline's own VAE), ``"pipeline"`` (its own VAE), a preset
        name, or a folder written by ``workbench toy train vae-inv`` (see :mod:`workbench.loading.inversion`).
    """

    model: str = "toy"
    num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps
    guidance_scale: float = PIPELINE_SAMPLING.guidance_scale
    inversion_steps: int = PIPELINE_SAMPLING.num_inference_steps
    inversion: Literal["ddim", "exact"] = "ddim"
    inversion_iterations: int = Field(default=0, ge=0)
    inversion_prompt: Literal["empty", "caption"] = "empty"
    inversion_guidance_scale: float | None = Field(default=1.0, ge=0)
    captioner: str = "toy"
    decoder_inversion_steps: int = Field(default=0, ge=0)
    decoder_inversion_lr: float = Field(default=0.1, gt=0)
    decoder_inversion_size: Literal["model", "input"] = "model"
    latent_size: int | None = None
    inversion_vae: str = "auto"

    @field_validator("inversion_vae")
    @classmethod
    def _known_inversion_vae(cls, value: str) -> str:
        return check_inversion_vae(value)


class LatentWatermark(Watermark):
    """Base of Tree-Ring and Gaussian Shading.

    Args:
        config: the watermark's config or its fields.
        pipe: a diffusers Stable Diffusion pipeline (txt2img or img2img); loaded from
            ``config.model`` on first use when omitted.
    """

    kind = "generation"
    config_class = LatentWatermarkConfig

    def __init__(
        self,
        config: LatentWatermarkConfig | dict[str, Any] | None = None,
        pipe: Any = None,
        runtime: Runtime | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(config, **kw)
        self._pipe = pipe
        self._ddim = None
        self._captioner = None
        self._inversion_vae: Any = None
        self.runtime = runtime

    # ------------------------------------------------------------------ model
    @property
    def pipe(self) -> Any:
        if self._pipe is None:
            self._pipe = loading.load_sd_pipeline(
                self.config.model, self.runtime or Runtime(seed=0), kind="txt2img"
            )
        return self._pipe

    @property
    def ddim(self) -> Any:
        if self._ddim is None:
            self._ddim = ddim_pipeline(self.pipe)
        return self._ddim

    @property
    def inversion_vae(self) -> Any:
        """The ``AutoencoderKL`` whose encoder gives the latents to invert (``config.inversion_vae``; loaded
        on first use), or ``None``: the pipeline's own VAE."""
        if self._inversion_vae is None:
            folder = inversion_vae_folder(self.config.inversion_vae, self.config.model, self.pipe)
            self._inversion_vae = False if folder is None else load_inversion_vae(folder, self.pipe.vae)
        return self._inversion_vae or None

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of the initial latent (from the config's ``latent_size`` and the UNet)."""
        if self._pipe is None and self.config.latent_size is not None:
            return 4, self.config.latent_size, self.config.latent_size  # SD's 4 latent channels
        unet = self.pipe.unet.config
        size = self.config.latent_size or int(unet.sample_size)
        return int(unet.in_channels), size, size

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of generated images; detection resizes inputs to it."""
        _, h, w = self.latent_shape
        f = vae_factor(self.pipe)
        return h * f, w * f

    # ------------------------------------------------------------------ latents (subclasses)
    def watermark_latents(self, noise: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        """Write the key into latents ``(B, C, h, w)`` (payload ``(B, L)``) and return them."""
        raise NotImplementedError

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bits read from inverted latents."""
        raise NotImplementedError

    def score_latents(self, latents: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        """``(B,)`` detection score from inverted latents (default: bit agreement with the payload)."""
        return bit_agreement(self.decode_latents(latents), payload)

    # ------------------------------------------------------------------ generation
    def initial_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None,
        payload: torch.Tensor,
    ) -> torch.Tensor:
        """Watermarked initial noise ``(B, C, h, w)`` (one standard normal draw per image, then the key)."""
        gens = per_image_generators(generator, batch_size)
        noise = torch.stack(
            [torch.randn(self.latent_shape, generator=g, device=g.device) for g in gens]
        ).cpu()
        return self.watermark_latents(noise.float(), payload.float())

    @torch.no_grad()
    def generate(
        self,
        pipe: Any = None,
        prompts: list[str] | str = "",
        generator: torch.Generator | list[torch.Generator] | None = None,
        payload_bits: PayloadLike | None = None,
        **pipe_kwargs: Any,
    ) -> torch.Tensor:
        """Generate watermarked images with a DDIM Stable Diffusion pipeline.

        Args:
            pipe: the pipeline (``None``: this watermark's own); its modules are shared with a DDIM
                ``StableDiffusionPipeline``.
            prompts: one prompt or one per image.
            generator: one `torch.Generator` per image, or one shared.
            payload_bits: ``(L,)`` or ``(B, L)`` bits (``None``: the key's payload).
            pipe_kwargs: passed to the pipeline call (e.g. ``negative_prompt``).

        Returns:
            `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1] (H, W = :attr:`image_size`).
        """
        if pipe is not None and pipe is not self._pipe:
            self._pipe, self._ddim, self._inversion_vae = pipe, None, None
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        payload = self.payload if payload_bits is None else payload_bits
        payload = parse_payload(payload, self.num_bits, batch_size=len(prompts))  # (B, L)
        ddim = self.ddim
        latents = self.initial_latents(len(prompts), generator, payload)  # (B, C, h, w)
        out = ddim(
            prompt=prompts,
            latents=latents.to(device=ddim.device, dtype=ddim.unet.dtype),
            num_inference_steps=self.config.num_inference_steps,
            guidance_scale=self.config.guidance_scale,
            output_type="pt",
            **pipe_kwargs,
        ).images  # (B, 3, H, W) in [0, 1]
        return out.float().clamp(0, 1)

    # ------------------------------------------------------------------ detection
    @property
    def captioner(self) -> Any:
        """The captioner of ``inversion_prompt: caption`` (loaded on first use)."""
        if self._captioner is None:
            self._captioner = load_captioner(self.config.captioner, self.runtime)
        return self._captioner

    def inversion_prompts(self, images: torch.Tensor) -> list[str]:
        """The prompts the exact inversion follows, one per image ``(B, 3, H, W)``."""
        if self.config.inversion_prompt == "caption":
            return self.captioner.caption(images)
        return [""] * images.shape[0]

    @torch.no_grad()
    def invert(self, images: torch.Tensor) -> torch.Tensor:
        """Estimated initial latents ``(B, C, h, w)`` of images (resized to :attr:`image_size`)."""
        check_images(images)
        cfg = self.config
        if cfg.inversion == "ddim":
            return ddim_invert(
                self.ddim,
                images,
                cfg.inversion_steps,
                size=self.image_size,
                decoder_steps=cfg.decoder_inversion_steps,
                decoder_lr=cfg.decoder_inversion_lr,
                fit_input_size=cfg.decoder_inversion_size == "input",
                vae=self.inversion_vae,
            ).cpu()
        ddim = self.ddim
        x = resize(images.float(), self.image_size)  # (B, 3, H, W)
        latents = encode_images(ddim, x, self.inversion_vae)  # (B, 4, h, w)
        target = images.float() if cfg.decoder_inversion_size == "input" else x
        latents = refine_latents(ddim, latents, target, cfg.decoder_inversion_steps, cfg.decoder_inversion_lr)
        prompts = self.inversion_prompts(x)
        guidance = (
            cfg.guidance_scale if cfg.inversion_guidance_scale is None else cfg.inversion_guidance_scale
        )
        if all(p == "" for p in prompts):
            cond, uncond = empty_prompt_embeds(ddim, len(prompts)), None  # (B, 77, D)
        else:
            cond, uncond = ddim.encode_prompt(prompts, ddim.device, 1, guidance != 1.0)  # (B, 77, D) each
        return exact_invert_latents(
            ddim, latents, cfg.inversion_steps, cond, uncond, guidance, cfg.inversion_iterations
        ).cpu()

    def _decode(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode_latents(self.invert(images))

    @torch.no_grad()
    def score(self, images: torch.Tensor, payload_bits: PayloadLike | None = None) -> torch.Tensor:
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        return self.score_latents(self.invert(images), payload)

    @torch.no_grad()
    def analyse(
        self, images: torch.Tensor, payload_bits: PayloadLike | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bits (B, L), score (B,))`` from a single inversion."""
        payload = self.payload if payload_bits is None else parse_payload(payload_bits, self.num_bits)
        latents = self.invert(images)
        return self.decode_latents(latents).float(), self.score_latents(latents, payload)

    def _embed(self, images: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        """Post-hoc embedding: invert, write the key into the inverted noise, regenerate with the
        empty prompt and no guidance, resize back to the input size."""
        h, w = images.shape[-2:]
        latents = self.watermark_latents(self.invert(images), payload)  # (B, C, h', w')
        ddim = self.ddim
        out = ddim(
            prompt=[""] * images.shape[0],
            latents=latents.to(device=ddim.device, dtype=ddim.unet.dtype),
            num_inference_steps=self.config.inversion_steps,
            guidance_scale=1.0,
            output_type="pt",
        ).images  # (B, 3, H', W')
        return resize(out.float().clamp(0, 1).to(images.device), (h, w))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self._pipe is not None or self.config.latent_size is not None:
            out["latent_shape"] = list(self.latent_shape)
        return out
