"""De-duplication of knowledge-base entries: a content hash of (pixels, text), and near duplicates by
embedding (both the image and the text embedding close to one existing entry's)."""

from __future__ import annotations

import hashlib

import torch

__all__ = ["content_hash", "near_duplicates"]


def content_hash(image: torch.Tensor, text: str) -> str:
    """Hex SHA-256 of an image's 8-bit pixels (and shape) and its whitespace-normalised text.

    Args:
        image (`torch.Tensor` of shape `(3, H, W)`): in [0, 1] (quantised to 8 bits as a PNG would be).
    """
    pixels = (
        (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()
    )  # (3, H, W)
    digest = hashlib.sha256(f"{tuple(pixels.shape)}".encode())
    digest.update(pixels.numpy().tobytes())
    digest.update(b"\0" + " ".join(text.split()).encode("utf-8"))
    return digest.hexdigest()


def near_duplicates(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    kept_image: torch.Tensor,
    kept_text: torch.Tensor,
    threshold: float,
    block: int = 32768,
) -> torch.Tensor:
    """Which new entries nearly duplicate a kept entry or an earlier new entry.

    Entry ``i`` is a near duplicate when, for one entry ``j`` (kept, or new with ``j < i`` and not itself a
    duplicate), both ``cos(image_i, image_j)`` and ``cos(text_i, text_j)`` are at least ``threshold``.

    Args:
        image_emb, text_emb (`torch.Tensor` of shape `(n, D)`): unit-norm embeddings of the new entries.
        kept_image, kept_text (`torch.Tensor` of shape `(N, D)`): unit-norm embeddings already in the base.
        threshold: cosine threshold in (0, 1].
        block: kept entries compared per matrix product (bounds memory at ``n * block`` floats).

    Returns:
        `torch.Tensor` of shape `(n,)`, bool.
    """
    n = image_emb.shape[0]
    dup = torch.zeros(n, dtype=torch.bool)
    for s in range(0, kept_image.shape[0], block):
        sim_i = image_emb @ kept_image[s : s + block].T  # (n, b)
        sim_t = text_emb @ kept_text[s : s + block].T  # (n, b)
        dup |= ((sim_i >= threshold) & (sim_t >= threshold)).any(dim=1)
    sim_i, sim_t = image_emb @ image_emb.T, text_emb @ text_emb.T  # (n, n)
    close = (sim_i >= threshold) & (sim_t >= threshold)
    for i in range(n):
        if dup[i]:
            continue
        earlier = close[i, :i] & ~dup[:i]
        if bool(earlier.any()):
            dup[i] = True
    return dup
