"""The latent of a VAE decoder (Stable Diffusion's ``AutoencoderKL``; the toy SD's on CPU)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from ..scorers.base import freeze
from .base import SPACES, SearchSpace, SpaceConfig


def downsampling_factor(vae) -> int:
    """``f``: an ``AutoencoderKL`` halves the resolution at every encoder level but the last."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _draw(vae, z: torch.Tensor, size: int) -> torch.Tensor:
    """Decoder output for latents ``z`` (the VAE's own units) in [0, 1], not clamped: (N, 3, size, size).
    A decoding of another size is resized; when shrinking, antialiased (an area average, as CLIP's
    processor shrinks any large image)."""
    x = vae.decode(z.to(next(vae.parameters()).dtype)).sample.float()  # (N, 3, h * f, w * f) in about [-1, 1]
    if x.shape[-1] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size
        )
    return (x + 1) / 2


class VAELatentSpaceConfig(SpaceConfig):
    """
    Attributes:
        init: ``"normal"`` (``init_std`` times a standard normal), ``"zeros"`` or ``"uniform"`` in [0, 1]
            (the paper's gradient runs).
        init_std: standard deviation of the normal start.
        decode_batch: latents decoded per VAE call (a memory bound; a population is still scored in
            one model call).
        latent_size: the latent grid's side (``None``: ``image_size / f``, the scorer's own size). A
            smaller grid decodes to a smaller image, resized up (fewer dimensions suit black-box
            optimisers); a larger grid decodes to a larger master image, which the scorer sees shrunk
            with antialiasing, as CLIP's processor shrinks any large image (SD's VAE at 512 px in front
            of a 224 px CLIP; the toy VAE at 256 px in front of the 64 px toy CLIP).
    """

    name: Literal["vae_latent"] = "vae_latent"
    init: Literal["normal", "zeros", "uniform"] = "normal"
    init_std: float = Field(1.0, gt=0)
    decode_batch: int = Field(64, ge=1)
    latent_size: int | None = Field(None, ge=1)


@SPACES.register("vae_latent")
class VAELatentSpace(SearchSpace):
    """Parameters are *scaled* latents (the units a diffusion UNet sees) of shape
    ``(latent_channels, H / f, W / f)``, ``f = 2 ** (len(block_out_channels) - 1)``: ``4 x 28 x 28``
    for SD's VAE at 224 px. Decoding divides by ``scaling_factor`` (adds ``shift_factor`` where the
    VAE has one), runs the decoder and maps [-1, 1] to [0, 1].
    """

    name = "vae_latent"
    config_class = VAELatentSpaceConfig

    def __init__(
        self, config: VAELatentSpaceConfig, image_size: int, vae, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(config, image_size, device)
        self.vae = freeze(vae)
        cfg = vae.config
        factor = downsampling_factor(vae)
        if self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of the VAE's downsampling factor {factor}"
            )
        side = config.latent_size or self.image_size // factor
        if side * factor > 8 * self.image_size:
            raise ValueError(
                f"latent_size {side} decodes to {side * factor} px, more than 8x the scorer's {self.image_size} px; "
                f"use latent_size <= {8 * self.image_size // factor}"
            )
        self.shape = (int(cfg.latent_channels), side, side)
        self.scaling_factor = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)
        self.shift_factor = float(getattr(cfg, "shift_factor", None) or 0.0)

    @classmethod
    def from_config(
        cls,
        config: VAELatentSpaceConfig,
        image_size: int,
        device: torch.device | str = "cpu",
        vae=None,
        **_: object,
    ) -> VAELatentSpace:
        if vae is None:
            raise ValueError(
                "space 'vae_latent' needs a VAE (an AutoencoderKL); load one with models.vae (e.g. 'toy' or 'sd15')"
            )
        return cls(config, image_size, vae, device)

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        shape = (n, *self.shape)
        if self.config.init == "zeros":
            return torch.zeros(shape, device=self.device)
        if self.config.init == "uniform":
            return torch.rand(shape, generator=generator, device=generator.device).to(self.device)
        return (torch.randn(shape, generator=generator, device=generator.device) * self.config.init_std).to(
            self.device
        )

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        self._check(params)
        out = []
        for chunk in params.split(self.config.decode_batch):
            z = chunk / self.scaling_factor + self.shift_factor  # (n, c, h, w), the VAE's own units
            out.append(_draw(self.vae, z, self.image_size).clamp(0, 1))  # (n, 3, H, W)
        return torch.cat(out)


@torch.no_grad()
def vae_round_trip(vae, images: torch.Tensor) -> torch.Tensor:
    """`(N, 3, H, W)` images in [0, 1] after the VAE's encode (posterior mode) and decode: what of
    an image the VAE's latent space can hold. A master image that does not survive its round trip
    lies outside the space ``vae_latent`` searches."""
    return vae_latent_fit(vae, images, steps=0)


def vae_latent_fit(
    vae, images: torch.Tensor, steps: int, latent_size: int | None = None, lr: float = 0.05
) -> torch.Tensor:
    """`(N, 3, H, W)` images in [0, 1] as closely as the VAE's decoder can draw them: the latent of a
    round trip, refined by ``steps`` of Adam on the MSE between its decoding and the image. A bound on
    what the ``vae_latent`` space (with this ``latent_size``) can hold, tighter than the round trip.

    Args:
        vae: an ``AutoencoderKL``.
        images: the targets.
        steps: Adam steps (0: the round trip alone).
        latent_size: the latent grid's side (``None``: ``H / f``); a larger grid decodes a larger image
            that is shrunk with antialiasing to ``H``, as in :class:`VAELatentSpace`.
        lr: Adam's learning rate on the (unscaled) latent.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    dtype = next(vae.parameters()).dtype
    device = next(vae.parameters()).device
    h = images.shape[-1]
    factor = downsampling_factor(vae)
    side = (latent_size or h // factor) * factor
    target = images.to(device, torch.float32)  # (N, 3, H, W)
    with torch.no_grad():
        start = F.interpolate(target, size=(side, side), mode="nearest") if side != h else target
        z = vae.encode((start * 2 - 1).to(dtype)).latent_dist.mode().float()  # (N, c, side / f, side / f)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = ((_draw(vae, z, h) - target) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return _draw(vae, z, h).clamp(0, 1).to(images.device)
