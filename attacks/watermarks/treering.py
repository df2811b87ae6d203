"""Tree-Ring watermark (Wen et al. 2023, "Tree-Ring Watermarks: Fingerprints for Diffusion Images
that are Invisible and Robust"): a key of concentric rings in the centred 2D Fourier transform of
one channel of the initial latent; detected by DDIM inversion and the L1 distance to the key in the
ring region. Two details differ from the reference code, both so the key survives taking the real
part of the inverse FFT exactly: the disc is centred on the DC term and ring values are real. A zero-bit watermark: ``decode`` returns ``(B, 0)`` bits, ``score`` is the negative
distance (higher = watermarked)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from attacks.watermarks.latent import LatentWatermark, LatentWatermarkConfig
from attacks.watermarks.registry import WATERMARKS
from workbench.runtime import derive_seed


class TreeRingConfig(LatentWatermarkConfig):
    """Args:
    radius: ring region radius in latent pixels (``None``: ``round(10 / 64 * latent side)``, at
        least 2, the paper's 10 at SD's 64 x 64 latents).
    channel: the latent channel that carries the key (the reference command uses 3), or -1: every
        channel (the reference code's ``w_channel = -1``).
    """

    radius: int | None = None
    channel: int = Field(default=3, ge=-1)


def circle_mask(size: int, radius: int) -> torch.Tensor:
    """``(size, size)`` bool disc of ``radius`` around the DC term of a ``fftshift``-ed spectrum.

    Centred exactly on the DC term (the reference code flips the rows, which moves the disc one row
    off), so the disc is symmetric under ``k -> -k`` and a real-valued ring key survives the inverse
    FFT of a real latent unchanged."""
    centre = size // 2
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (x - centre) ** 2 + (y - centre) ** 2 <= radius**2


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred 2D FFT over the last two dims."""
    return torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))


def ifft2c(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifft2(torch.fft.ifftshift(x, dim=(-2, -1)))


@WATERMARKS.register("treering")
class TreeRing(LatentWatermark):
    """Tree-Ring with the "ring" key pattern.

    Example:
        >>> from workbench.dummy import dummy_sd_pipeline
        >>> wm = TreeRing(pipe=dummy_sd_pipeline(), num_inference_steps=2, inversion_steps=2)
        >>> images = wm.generate(prompts=["a red circle"], generator=torch.Generator().manual_seed(0))
        >>> wm.score(images).shape
        torch.Size([1])
    """

    name = "treering"
    config_class = TreeRingConfig

    def __init__(
        self, config: TreeRingConfig | dict[str, Any] | None = None, pipe: Any = None, **kw: Any
    ) -> None:
        super().__init__(config, pipe=pipe, **kw)  # ``runtime=`` travels in ``kw``
        self._key: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_bits(self) -> int:
        return 0

    @property
    def radius(self) -> int:
        if self.config.radius is not None:
            return self.config.radius
        return max(2, round(10 / 64 * self.latent_shape[-1]))

    @property
    def key(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pattern, mask)``: complex ``(C, h, w)`` spectrum values and the bool ``(C, h, w)`` region."""
        if self._key is None:
            c, h, w = self.latent_shape
            if h != w:
                raise ValueError(f"Tree-Ring needs a square latent, got {h} x {w}")
            if not -1 <= self.config.channel < c:
                raise ValueError(f"channel must be in [0, {c - 1}] or -1 (all), got {self.config.channel}")
            if not 1 <= self.radius < h // 2:
                raise ValueError(
                    f"radius must be in [1, {h // 2 - 1}] for a {h} x {w} latent, got {self.radius}"
                )
            g = torch.Generator().manual_seed(derive_seed(self.config.seed, "treering"))
            spectrum = fft2c(torch.randn((c, h, w), generator=g))  # (C, h, w) complex
            pattern = spectrum.clone()
            for r in range(self.radius, 0, -1):  # each ring takes one value of the spectrum
                ring = circle_mask(h, r)
                for ch in range(c):
                    # The real part: the spectrum of a real latent is Hermitian, so a complex ring
                    # value would be halved to its real part by ``ifft(...).real`` anyway.
                    pattern[ch, ring] = spectrum[ch, 0, r].real.to(spectrum.dtype)
            mask = torch.zeros((c, h, w), dtype=torch.bool)
            channels = range(c) if self.config.channel == -1 else [self.config.channel]
            for ch in channels:
                mask[ch] = circle_mask(h, self.radius)
            self._key = (pattern, mask)
        return self._key

    def key_tensors(self) -> dict[str, torch.Tensor]:
        pattern, mask = self.key
        return {"pattern": pattern[mask], "mask": mask.float()}

    def watermark_latents(self, noise: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        pattern, mask = self.key
        spectrum = fft2c(noise.float())  # (B, C, h, w) complex
        spectrum[:, mask] = pattern[mask].to(spectrum.dtype)
        return ifft2c(spectrum).real  # (B, C, h, w)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.zeros((latents.shape[0], 0))

    def distance(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B,)`` mean absolute difference between the latents' spectrum and the key in the ring region."""
        pattern, mask = self.key
        spectrum = fft2c(latents.float())  # (B, C, h, w) complex
        return (spectrum[:, mask] - pattern[mask]).abs().mean(dim=-1)

    def score_latents(self, latents: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        return -self.distance(latents)
