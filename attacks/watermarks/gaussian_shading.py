"""Gaussian Shading (Yang et al. 2024, "Gaussian Shading: Provable Performance-Lossless Image
Watermarking for Diffusion Models"): payload bits, repeated over the latent and encrypted with a
key stream, choose the half of the standard normal each initial latent entry is drawn from; the
initial latent stays exactly standard normal. Detection: DDIM inversion, the sign of each entry,
decryption and a majority vote over the repeats."""

from __future__ import annotations

from typing import Any

import torch

from attacks.watermarks.latent import LatentWatermark, LatentWatermarkConfig
from attacks.watermarks.registry import WATERMARKS
from workbench.runtime import derive_seed


class GaussianShadingConfig(LatentWatermarkConfig):
    """Args:
    ch_factor: repeats of the payload over the latent channels.
    hw_factor: repeats of the payload along height and along width; the payload has
        ``(C / ch_factor) * (h / hw_factor) * (w / hw_factor)`` bits (256 at SD's 4 x 64 x 64
        latents with the paper's ch 1, hw 8).
    """

    ch_factor: int = 1
    hw_factor: int = 8


@WATERMARKS.register("gaussian_shading")
class GaussianShading(LatentWatermark):
    """Gaussian Shading with one bit per latent entry (the key stream is a seeded torch generator).

    Example:
        >>> from workbench.dummy import dummy_sd_pipeline
        >>> wm = GaussianShading(pipe=dummy_sd_pipeline(), hw_factor=4, num_inference_steps=2, inversion_steps=2)
        >>> wm.num_bits
        64
    """

    name = "gaussian_shading"
    config_class = GaussianShadingConfig

    def __init__(
        self, config: GaussianShadingConfig | dict[str, Any] | None = None, pipe: Any = None, **kw: Any
    ) -> None:
        super().__init__(config, pipe=pipe, **kw)  # ``runtime=`` travels in ``kw``
        self._stream: torch.Tensor | None = None

    @property
    def block_shape(self) -> tuple[int, int, int]:
        """``(C / ch, h / hw, w / hw)``: the shape of one copy of the payload."""
        c, h, w = self.latent_shape
        ch, hw = self.config.ch_factor, self.config.hw_factor
        if c % ch or h % hw or w % hw:
            raise ValueError(
                f"latent {c} x {h} x {w} is not divisible by ch_factor={ch} and hw_factor={hw}; pick factors that divide it"
            )
        return c // ch, h // hw, w // hw

    @property
    def num_bits(self) -> int:
        c, h, w = self.block_shape
        return c * h * w

    @property
    def stream(self) -> torch.Tensor:
        """The encryption key stream ``(C, h, w)`` of 0/1."""
        if self._stream is None:
            g = torch.Generator().manual_seed(derive_seed(self.config.seed, "gaussian_shading"))
            self._stream = torch.randint(0, 2, self.latent_shape, generator=g).float()
        return self._stream

    def key_tensors(self) -> dict[str, torch.Tensor]:
        return {"payload": self.payload, "stream": self.stream}

    def spread(self, payload: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bits -> ``(B, C, h, w)``: the payload tiled over the latent."""
        ch, hw = self.config.ch_factor, self.config.hw_factor
        return payload.view(payload.shape[0], *self.block_shape).repeat(1, ch, hw, hw)

    def watermark_latents(self, noise: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        message = (self.spread(payload.float()) + self.stream) % 2  # (B, C, h, w) in {0, 1}
        return noise.float().abs() * (2 * message - 1)  # negative half for 0, positive for 1

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        b = latents.shape[0]
        ch, hw = self.config.ch_factor, self.config.hw_factor
        c, h, w = self.block_shape
        message = (latents.float() > 0).float()  # (B, C, h, w)
        spread = (message + self.stream) % 2
        votes = spread.view(b, ch, c, hw, h, hw, w).mean(dim=(1, 3, 5))  # (B, C/ch, h/hw, w/hw)
        return (votes > 0.5).float().view(b, -1)  # (B, L)
