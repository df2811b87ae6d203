"""Watermark bit accuracy and its binomial p-value."""

from __future__ import annotations

import torch
from scipy.stats import binom


def _bits(x: torch.Tensor | list, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dtype == torch.bool:
        return t
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    bad = ~((t == 0) | (t == 1))
    if bool(bad.any()):
        raise ValueError(
            f"{name} must hold bits (0/1 or bool), found {int(bad.sum())} other values; threshold soft "
            "decoder outputs first (e.g. logits > 0)"
        )
    return t.bool()


def matching_bits(decoded: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Number of decoded bits equal to the key's, per image.

    Args:
        decoded (`torch.Tensor` of shape `(B, K)`): decoded bits (0/1 or bool).
        key (`torch.Tensor` of shape `(K,)` or `(B, K)`): the embedded message.

    Returns:
        `torch.Tensor` of shape `(B,)`, int64.
    """
    d, k = _bits(decoded, "decoded"), _bits(key, "key")
    if d.ndim != 2:
        raise ValueError(f"decoded must be (B, K), got {tuple(d.shape)}")
    if k.ndim == 1:
        k = k.unsqueeze(0).expand_as(d)
    if k.shape != d.shape:
        raise ValueError(f"key shape {tuple(k.shape)} does not match decoded {tuple(d.shape)}")
    return (d == k.to(d.device)).sum(dim=1)


def bit_accuracy(decoded: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Fraction of correctly decoded bits per image: `(B,)` float64 in [0, 1].

    Note: an attack that inverts bits gives low accuracy, and a detector thresholding
    ``|acc - 0.5|`` would call it watermarked; report detection with :func:`binomial_p_value` or a
    score-based ROC instead of bit accuracy alone.
    """
    return matching_bits(decoded, key).to(torch.float64) / torch.as_tensor(decoded).shape[1]


def binomial_p_value(n_matching: torch.Tensor, n_bits: int) -> torch.Tensor:
    """P(at least ``n_matching`` of ``n_bits`` fair coin flips match): the chance that an
    unwatermarked image agrees with the key this well (one-sided, ``scipy.stats.binom.sf``).

    Returns:
        `torch.Tensor` of the same shape, float64 in (0, 1].
    """
    m = torch.as_tensor(n_matching).to(torch.int64).cpu()
    if bool((m < 0).any()) or bool((m > n_bits).any()):
        raise ValueError(f"n_matching must lie in [0, {n_bits}]")
    return torch.from_numpy(binom.sf(m.numpy() - 1, n_bits, 0.5)).to(torch.float64)
