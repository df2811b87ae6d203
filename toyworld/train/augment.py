"""Image augmentations of the decoded-augmented toy CLIP: what a CLIP trained on natural images sees
(JPEG-like decoder round trips, blur, sensor noise, exposure changes, textured surfaces), on shapes scenes.

Every augmentation keeps what a caption names: no hue change (colours are named), no flip or crop
(positions are named). Randomness comes from one ``torch.Generator`` so a training step is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..textures import texture_batch

__all__ = ["AugmentConfig", "augment", "gaussian_blur"]


@dataclass(frozen=True)
class AugmentConfig:
    """Per-image probabilities and strengths (images in [0, 1]).

    Attributes:
        decoded: share of images replaced by their round trip through the toy VAE.
        blur: probability of a Gaussian blur of standard deviation in ``blur_sigma`` (pixels).
        noise: probability of additive Gaussian noise of standard deviation up to ``noise_std``.
        jitter: probability of a brightness / contrast change of up to ``jitter_strength`` each.
        texture: probability of blending a procedural texture at an opacity up to ``texture_alpha``.
    """

    decoded: float = 0.8
    blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.5, 2.0)
    noise: float = 0.7
    noise_std: float = 0.2
    jitter: float = 0.5
    jitter_strength: float = 0.15
    texture: float = 0.25
    texture_alpha: float = 0.3

    def __post_init__(self) -> None:
        for name in ("decoded", "blur", "noise", "jitter", "texture"):
            p = getattr(self, name)
            if not 0 <= p <= 1:
                raise ValueError(f"augmentation probability {name} must be in [0, 1], got {p}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma must be (lo, hi) with 0 < lo <= hi, got {self.blur_sigma}")


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one ``sigma`` (B,) per image, reflect padding: (B, C, H, W) -> same."""
    b, c, h, w = images.shape
    radius = max(1, int(torch.ceil(3 * sigma.max()).item()))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)  # (K,)
    kernel = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None] ** 2))  # (B, K)
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel = kernel.repeat_interleave(c, 0)  # (B*C, K)
    flat = F.pad(images.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=b * c)  # along x
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=b * c)  # along y
    return flat.reshape(b, c, h, w)


def _chosen(p: float, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p  # (n,) bool


def _uniform(lo: float, hi: float, n: int, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


@torch.no_grad()
def augment(images: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, vae=None) -> torch.Tensor:
    """Augment a batch: (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1].

    Order: decoder round trip (with ``vae``, a diffusers ``AutoencoderKL``; skipped without one), texture,
    brightness / contrast, blur, noise.
    """
    out = images.clone()
    n = out.shape[0]
    pick = _chosen(cfg.decoded, n, g)
    if vae is not None and pick.any():
        x = out[pick].to(vae.device) * 2 - 1
        out[pick] = ((vae.decode(vae.encode(x).latent_dist.mode()).sample + 1) / 2).clamp(0, 1).cpu()
    pick = _chosen(cfg.texture, n, g)
    if pick.any():
        k = int(pick.sum())
        tex = texture_batch(k, out.shape[-1], g)  # (k, 3, H, W)
        alpha = _uniform(0.0, cfg.texture_alpha, k, g)[:, None, None, None]
        out[pick] = (1 - alpha) * out[pick] + alpha * tex
    pick = _chosen(cfg.jitter, n, g)
    if pick.any():
        k = int(pick.sum())
        s = cfg.jitter_strength
        bright = _uniform(-s, s, k, g)[:, None, None, None]
        contrast = _uniform(1 - s, 1 + s, k, g)[:, None, None, None]
        sel = out[pick]
        mean = sel.mean((1, 2, 3), keepdim=True)
        out[pick] = ((sel - mean) * contrast + mean + bright).clamp(0, 1)
    pick = _chosen(cfg.blur, n, g)
    if pick.any():
        out[pick] = gaussian_blur(out[pick], _uniform(*cfg.blur_sigma, int(pick.sum()), g))
    pick = _chosen(cfg.noise, n, g)
    if pick.any():
        k = int(pick.sum())
        std = _uniform(0.0, cfg.noise_std, k, g)[:, None, None, None]
        out[pick] = (out[pick] + std * torch.randn(out[pick].shape, generator=g)).clamp(0, 1)
    return out
