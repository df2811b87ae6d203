"""Payload bits: parsing user input, random payloads, bit accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import torch

PayloadLike = str | Sequence[int] | Sequence[bool] | torch.Tensor


def parse_payload(bits: PayloadLike, length: int, batch_size: int | None = None) -> torch.Tensor:
    """Turn ``"0110..."``, a list of 0/1 or a tensor into a float tensor of 0/1.

    Args:
        bits: one payload of ``length`` bits, or a ``(B, length)`` tensor (one per image).
        length: the watermark's payload length.
        batch_size: expand a single payload to ``(batch_size, length)``.

    Returns:
        `torch.Tensor` of shape `(length,)` or `(batch_size, length)`, float in {0, 1}.

    Raises:
        ValueError: wrong length or a value other than 0/1.
    """
    if isinstance(bits, str):
        text = bits.strip().replace(" ", "")
        if set(text) - {"0", "1"}:
            raise ValueError(f"a payload string may contain only '0' and '1', got {bits!r}")
        tensor = torch.tensor([int(c) for c in text], dtype=torch.float32)
    else:
        tensor = torch.as_tensor(bits).detach().float().cpu()
    if tensor.numel() and not torch.all((tensor == 0) | (tensor == 1)):
        raise ValueError("payload bits must be 0 or 1")
    if tensor.shape[-1:] != (length,) or tensor.ndim > 2:
        raise ValueError(
            f"payload must have {length} bits (this watermark's payload length), got shape {tuple(tensor.shape)}"
        )
    if batch_size is not None:
        if tensor.ndim == 1:
            tensor = tensor.expand(batch_size, length)
        elif tensor.shape[0] != batch_size:
            raise ValueError(f"got {tensor.shape[0]} payloads for {batch_size} images")
    return tensor


def random_payload(length: int, generator: torch.Generator) -> torch.Tensor:
    """``(length,)`` float bits drawn from ``generator``."""
    return torch.randint(0, 2, (length,), generator=generator).float()


def bits_to_string(bits: torch.Tensor) -> str:
    """``(L,)`` bits -> ``"0110..."``."""
    return "".join(str(int(b)) for b in bits.round().long().tolist())


def bit_agreement(decoded: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
    """Fraction of bits equal: ``(B, L)`` decoded vs ``(L,)`` or ``(B, L)`` payload -> ``(B,)`` float32
    (NaN for a zero-bit watermark).

    The detection score of bit watermarks; :func:`metrics.functional.bit_accuracy` computes it, and
    the metrics layer turns scores into TPR at a fixed FPR against clean images."""
    from metrics.functional import bit_accuracy  # deferred: scipy

    decoded = decoded.detach().float().round().cpu()
    if decoded.shape[-1] == 0:
        return torch.full(decoded.shape[:1], float("nan"))
    return bit_accuracy(decoded, payload.detach().float().round().cpu()).float()
