"""``GCDPPipeline``: an image and its semantic layout from a caption, by one joint denoiser stepping a
Gaussian scheduler (DDIM) on the latent and an absorbing categorical scheduler on the layout together.

Modes of the same call:

- text -> (image, layout): neither ``layout`` nor ``image`` given; both start from noise / all ``[MASK]``.
- layout -> image: ``layout`` given (class ids per latent or per pixel position); it stays fixed and
  conditions every step.
- image -> layout: ``image`` given (segmentation); its latent stays clean (the denoiser sees step 0) and the
  layout is revealed over the steps.

Layout guidance (``layout_guidance_scale`` = ``s_L``; classifier-free guidance on the layout, as InstructPix2Pix
guides its second condition): with ``L`` the layout the denoiser reads (the given one, or the joint mode's
partly revealed one), ``M`` the all-``[MASK]`` layout (no layout: the trainer's layout-dropped task) and
``e(text, layout)`` the denoiser's noise prediction,

    e = e(empty, L) + s_T * (e(c, L) - e(empty, L)) + (s_L - 1) * (e(c, L) - e(c, M))

the usual text guidance (``s_T`` = ``guidance_scale``) plus ``s_L - 1`` more of the layout's own direction,
taken at the caption. It steers the image only: the layout's logits keep the text guidance alone (guided on the
layout too, they lean on the revealed cells against the image's evidence, and the sampled layout drifts from
its image), and with a given image (image -> layout) there is nothing to steer. ``s_L = 1`` is the unguided output exactly (and skips the extra batch); where the text and
layout directions add, this is InstructPix2Pix's ``e(empty, M) + s_T (e(c, M) - e(empty, M)) + s_L (e(c, L) -
e(c, M))``, and it never needs ``e(empty, M)``. The extra ``(c, M)`` pass runs in the same batch (3B instead of
2B) and is skipped while every cell is ``[MASK]`` (there the two agree).

Layout sampling: ``reveal_order`` picks which masked cells a step reveals (``"random"``, the absorbing
posterior; ``"confidence"``, the same expected number, most confident first, as MaskGIT), and
``layout_fraction`` = ``f`` compresses the categorical schedule into the first ``f`` of the steps (its timesteps
an evenly spaced subset of the Gaussian ones, from the first to the last): the layout is fully revealed by then
and the image finishes with it fixed, guided on it as in layout -> image (``f = 1``: the layout revealed beside
the image over all the steps).

Example:
    >>> from generators.layout.gcdp.testing import tiny_gcdp_pipeline
    >>> pipe = tiny_gcdp_pipeline()
    >>> out = pipe(["a red circle"], num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    >>> tuple(out.images.shape), tuple(out.layouts.shape)
    ((1, 3, 32, 32), (1, 16, 16))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from workbench.sampling import WORKBENCH_SAMPLING

from .model import GCDPDenoiser
from .scheduler import REVEAL_ORDERS, AbsorbingCategoricalScheduler, RevealOrder

__all__ = [
    "LAYOUT_FRACTION",
    "LAYOUT_GUIDANCE_SCALE",
    "LAYOUT_TEMPERATURE",
    "REVEAL_ORDER",
    "SEGMENTATION_REVEAL_ORDER",
    "GCDPPipeline",
    "GCDPPipelineOutput",
]

# The default layout guidance (1: none): chosen by the sweep in docs/layout.md ("Layout guidance, measured"),
# where 3 raised layout -> image box IoU 0.60 -> 0.66 and kept the joint mode's object accuracy within a
# standard error (5 went further on the boxes and cost the joint mode objects).
LAYOUT_GUIDANCE_SCALE: float = 3.0
# The layout's sampling (module docstring): the order cells are revealed in, the share of the steps the layout
# is revealed over, and the softmax temperature of the revealed classes. Chosen by the sweep in docs/layout.md
# ("Layout sampling, measured"): the most confident cells first at temperature 0 raised the joint mode's
# layout/image agreement 0.38 -> 0.73 on seeds 0-2 and 3-5 (random order at temperature 1 before); revealing
# the layout first (a fraction below 1) lowered it.
REVEAL_ORDER: RevealOrder = "confidence"
LAYOUT_FRACTION: float = 1.0
LAYOUT_TEMPERATURE: float = 0.0
# image -> layout keeps the random order: there the most confident cells first lowered segmentation mIoU
# (0.90 -> 0.84 on seeds 0-2, 0.90 -> 0.86 on 3-5; same section).
SEGMENTATION_REVEAL_ORDER: RevealOrder = "random"


@dataclass
class GCDPPipelineOutput(BaseOutput):
    """Args:
    images (`torch.Tensor` of shape `(batch_size, 3, height, width)` in [0, 1], or PIL images / a NumPy
        array by ``output_type``; the latents for ``"latent"``).
    layouts (`torch.LongTensor` of shape `(batch_size, height / f, width / f)`): the class of each latent
        position (``f`` the VAE's downsampling factor).
    """

    images: object
    layouts: torch.Tensor


class GCDPPipeline(DiffusionPipeline):
    """Joint image and semantic-layout generation (GCDP).

    Args:
        vae: the image autoencoder.
        text_encoder / tokenizer: the caption's CLIP text tower.
        denoiser: the joint :class:`GCDPDenoiser`.
        scheduler: the Gaussian scheduler of the latent (DDIM).
        layout_scheduler: the categorical scheduler of the layout.
    """

    model_cpu_offload_seq = "text_encoder->denoiser->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        denoiser: GCDPDenoiser,
        scheduler: DDIMScheduler,
        layout_scheduler: AbsorbingCategoricalScheduler,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            denoiser=denoiser,
            scheduler=scheduler,
            layout_scheduler=layout_scheduler,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """Token states `(B, 77, D)` of ``prompts``, padded to the tokenizer's length as SD pads prompts."""
        ids = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids.to(device)
        return self.text_encoder(ids)[0]

    def prepare_layout(self, layout: torch.Tensor, batch: int, h: int, w: int, device) -> torch.Tensor:
        """A given layout as class ids `(B, h, w)`: per latent position, or per pixel (then reduced block-wise,
        background counted at half weight, as the training layouts were)."""
        k = self.denoiser.config.num_classes
        layout = torch.as_tensor(layout).long()
        if layout.ndim == 2:
            layout = layout[None]
        if layout.ndim != 3 or layout.shape[0] not in (1, batch):
            raise ValueError(f"layout of shape {tuple(layout.shape)}: give (B, h, w) or (h, w) class ids")
        if layout.min() < 0 or layout.max() >= k:
            raise ValueError(
                f"layout class ids must lie in [0, {k - 1}], got {int(layout.min())}..{int(layout.max())}"
            )
        if layout.shape[-2:] != (h, w):
            fh, fw = layout.shape[-2] // h, layout.shape[-1] // w
            if fh != fw or fh * h != layout.shape[-2] or fw * w != layout.shape[-1]:
                raise ValueError(
                    f"layout of size {tuple(layout.shape[-2:])} fits neither the latent ({h}, {w}) nor a multiple of it"
                )
            share = F.avg_pool2d(F.one_hot(layout, k).permute(0, 3, 1, 2).float(), fh)  # (B, K, h, w)
            share[:, 0] *= 0.5
            layout = share.argmax(1)
        return layout.expand(batch, h, w).to(device)

    @staticmethod
    def guide(
        out: torch.Tensor, batch: int, cfg: bool, lay_cfg: bool, scale: float, layout_scale: float
    ) -> torch.Tensor:
        """The guided prediction `(B, ...)` from the batched one `(parts * B, ...)`, ordered [(empty, L)],
        (c, L), [(c, M)] (module docstring)."""
        chunks = list(out.split(batch))
        cond = chunks[int(cfg)]  # (B, ...): e(c, L)
        guided = chunks[0] + scale * (cond - chunks[0]) if cfg else cond
        if lay_cfg:
            guided = guided + (layout_scale - 1) * (cond - chunks[-1])
        return guided

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        layout: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = WORKBENCH_SAMPLING.num_inference_steps,
        guidance_scale: float = WORKBENCH_SAMPLING.guidance_scale,
        layout_guidance_scale: float = LAYOUT_GUIDANCE_SCALE,
        temperature: float = LAYOUT_TEMPERATURE,
        reveal_order: RevealOrder | None = None,
        layout_fraction: float = LAYOUT_FRACTION,
        reveal_layout: bool = True,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pt",
        return_dict: bool = True,
    ) -> GCDPPipelineOutput | tuple:
        """Generate images and layouts.

        Args:
            prompt: captions (one per image).
            layout: class ids `(B, h, w)` / `(B, H, W)` (layout -> image), or ``None``.
            image: images `(B, 3, H, W)` in [0, 1] (image -> layout), or ``None``.
            guidance_scale: classifier-free guidance of both the noise and the layout's logits (1: none).
            layout_guidance_scale: guidance of the noise on the layout (module docstring; 1: none, 0: the
                prediction without any layout); text -> (image, layout) and layout -> image.
            temperature: softmax temperature of the revealed classes (0: the most likely class).
            reveal_order: ``"random"`` or ``"confidence"``: which masked cells each step reveals (module docstring);
                ``None``: the mode's default, ``REVEAL_ORDER`` for text -> (image, layout),
                ``SEGMENTATION_REVEAL_ORDER`` for image -> layout.
            layout_fraction: in (0, 1]: the layout is fully revealed within this share of the steps (module
                docstring; 1: over all of them).
            reveal_layout: ``False`` keeps the layout all ``[MASK]`` in the text -> image mode (the joint denoiser
                as a plain text-to-image model: what the image side does without the sampled layout).
            output_type: ``"pt"``, ``"np"``, ``"pil"`` or ``"latent"``.
        """
        # 1. Check inputs
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("give at least one prompt")
        if layout is not None and image is not None:
            raise ValueError("give a layout (layout -> image) or an image (image -> layout), not both")
        if layout_guidance_scale < 0:
            raise ValueError(
                f"layout_guidance_scale={layout_guidance_scale}: give a scale >= 0 (1: no layout guidance)"
            )
        if reveal_order is None:
            reveal_order = REVEAL_ORDER if image is None else SEGMENTATION_REVEAL_ORDER
        if reveal_order not in REVEAL_ORDERS:
            raise ValueError(f"reveal_order {reveal_order!r}: use one of {', '.join(REVEAL_ORDERS)}")
        if not 0 < layout_fraction <= 1:
            raise ValueError(f"layout_fraction={layout_fraction}: give a share of the steps in (0, 1]")
        if output_type not in ("pt", "np", "pil", "latent"):
            raise ValueError(f"output_type {output_type!r}: use 'pt', 'np', 'pil' or 'latent'")
        batch, device = len(prompts), self._execution_device
        if image is not None:
            if image.ndim != 4 or image.shape[:2] != (batch, 3):
                raise ValueError(f"image of shape {tuple(image.shape)}: give ({batch}, 3, H, W) in [0, 1]")
            height, width = image.shape[-2:]
        size = self.denoiser.config.trunk.get("sample_size", 64) * self.vae_scale_factor
        height, width = height or size, width or size
        h, w = height // self.vae_scale_factor, width // self.vae_scale_factor
        cfg = guidance_scale > 1.0

        # 2. Encode the prompts (the empty caption first under guidance)
        states = self.encode_prompt(prompts, device)  # (B, 77, D)
        if cfg:
            states = torch.cat([self.encode_prompt([""], device).expand_as(states), states])  # (2B, 77, D)

        # 3. Timesteps: the categorical scheduler steps on the Gaussian one's (all of them, or an evenly spaced
        # subset taken over the first layout_fraction of the steps)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps.cpu()
        layout_steps = max(1, int(layout_fraction * len(timesteps) + 1e-9))
        picks = torch.linspace(0, len(timesteps) - 1, layout_steps).round().long()
        self.layout_scheduler.set_timesteps(timesteps=timesteps[picks])

        # 4. Latents: noise, or the given image's (clean, held)
        dtype = self.denoiser.dtype
        if image is None:
            shape = (batch, self.denoiser.config.latent_channels, h, w)
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
            latents = latents * self.scheduler.init_noise_sigma
        else:
            post = self.vae.encode(image.to(device, self.vae.dtype) * 2 - 1).latent_dist
            latents = (post.mean * self.vae.config.scaling_factor).to(dtype)

        # 5. Layout: all [MASK], or the given one (held)
        mask_id = self.layout_scheduler.mask_id
        if layout is None:
            layouts = torch.full((batch, h, w), mask_id, dtype=torch.long, device=device)
        else:
            layouts = self.prepare_layout(layout, batch, h, w, device)

        # 6. Denoising loop: batch [(empty, L)] + (c, L) + [(c, M)]
        masked_layout = torch.full((batch, h, w), mask_id, dtype=torch.long, device=device)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            model_t = torch.zeros_like(t) if image is not None else t  # a given image is clean: step 0
            # a given image's noise is not used: nothing for layout guidance to steer
            lay_cfg = image is None and layout_guidance_scale != 1.0 and bool((layouts != mask_id).any())
            parts = 1 + cfg + lay_cfg
            x = self.scheduler.scale_model_input(torch.cat([latents] * parts), t)  # (parts * B, C, h, w)
            lay = torch.cat([layouts] * (1 + cfg) + [masked_layout] * lay_cfg)  # (parts * B, h, w)
            text = torch.cat([states, states[-batch:]]) if lay_cfg else states  # (parts * B, 77, D)
            out = self.denoiser(x, lay, model_t, encoder_hidden_states=text)
            noise = self.guide(out.sample, batch, cfg, lay_cfg, guidance_scale, layout_guidance_scale)
            logits = self.guide(out.logits, batch, cfg, False, guidance_scale, 1.0)  # text guidance only
            if image is None:
                latents = self.scheduler.step(noise, t, latents).prev_sample
            if layout is None and reveal_layout and i < layout_steps:
                layouts = self.layout_scheduler.step(
                    logits,
                    int(self.layout_scheduler.timesteps[i]),
                    layouts,
                    generator=generator,
                    temperature=temperature,
                    reveal_order=reveal_order,
                ).prev_sample

        # 7. Decode
        if output_type == "latent":
            images = latents
        else:
            decoded = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
            images = (decoded / 2 + 0.5).clamp(0, 1).float().cpu()  # (B, 3, H, W)
            if output_type in ("np", "pil"):
                array = images.permute(0, 2, 3, 1).numpy()
                images = self.numpy_to_pil(array) if output_type == "pil" else array
        self.maybe_free_model_hooks()
        layouts = layouts.cpu()
        if not return_dict:
            return images, layouts
        return GCDPPipelineOutput(images=images, layouts=layouts)
