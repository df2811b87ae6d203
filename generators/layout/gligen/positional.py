"""Where is each visual token? GLIGEN's gated self-attention with the tokens' own boxes added.

GLIGEN's fuser attends over ``[visual tokens; grounding tokens]`` where a grounding token carries a
Fourier-embedded box but a visual token carries no position: it only knows where it lies through what the
UNet's convolutions leave in it (zero padding near the borders). On the toy SD the fusers sit on 8x8 and
4x4 grids after a few convolutions, and a linear probe recovers the row and column of interior tokens from
noisy latents with R^2 of only 0.1-0.3 (``docs/layout.md``, GLIGEN section): a box token cannot tell which
visual tokens it covers. This fuser adds, after the first LayerNorm and to the visual tokens only, a
learned projection of the same Fourier embedding of each token's own grid cell ``(x0, y0, x1, y1)`` that
boxes get; the residual stream, the gates (``tanh(alpha)``, initialised at 0) and everything else are
GLIGEN's. Departure from the paper: one ``Linear(64, C)`` per fuser (8 k parameters).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers.models.attention import GatedSelfAttentionDense
from diffusers.models.embeddings import get_fourier_embeds_from_boundingbox
from torch import nn

__all__ = [
    "FOURIER_FREQS",
    "PositionalGatedSelfAttention",
    "add_token_positions",
    "checkpoint_has_token_positions",
    "has_token_positions",
    "is_positional_name",
    "token_boxes",
]

FOURIER_FREQS = 8  # the position net's: 8 frequencies x (sin, cos) x 4 coordinates = 64


def token_boxes(n_tokens: int, device: Any = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The grid cell ``(x0, y0, x1, y1)`` in [0, 1] of each of ``n_tokens`` visual tokens of a square grid,
    row-major (diffusers' token order): `(n_tokens, 4)`.

    Raises:
        ValueError: ``n_tokens`` is not a square number (the fuser needs square latents).
    """
    side = math.isqrt(n_tokens)
    if side * side != n_tokens:
        raise ValueError(
            f"{n_tokens} visual tokens are not a square grid; the positional GLIGEN fuser needs square "
            "images (height == width)"
        )
    idx = torch.arange(side, device=device, dtype=dtype)
    row, col = torch.meshgrid(idx, idx, indexing="ij")
    row, col = row.reshape(-1), col.reshape(-1)
    return torch.stack([col, row, col + 1, row + 1], -1) / side


class PositionalGatedSelfAttention(GatedSelfAttentionDense):
    """GLIGEN's ``GatedSelfAttentionDense`` whose visual tokens also carry their grid cell's Fourier
    embedding (``pos_proj``) in the attention input."""

    def __init__(self, query_dim: int, context_dim: int, n_heads: int, d_head: int) -> None:
        super().__init__(query_dim, context_dim, n_heads, d_head)
        self.pos_proj = nn.Linear(FOURIER_FREQS * 2 * 4, query_dim)

    def position_embedding(self, n_visual: int, like: torch.Tensor) -> torch.Tensor:
        """The learned embedding of each visual token's grid cell: `(1, N, C)` in ``like``'s dtype."""
        boxes = token_boxes(n_visual, like.device, like.dtype)[None]  # (1, N, 4)
        return self.pos_proj(get_fourier_embeds_from_boundingbox(FOURIER_FREQS, boxes))  # (1, N, C)

    def forward(self, x: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
        # x: (B, N, C) visual tokens; objs: (B, M, D) grounding tokens
        if not self.enabled:
            return x
        n_visual = x.shape[1]
        objs = self.linear(objs)  # (B, M, C)
        pos = self.position_embedding(n_visual, x)  # (1, N, C)
        h = self.norm1(torch.cat([x, objs], dim=1))  # (B, N + M, C)
        h = torch.cat([h[:, :n_visual] + pos, h[:, n_visual:]], dim=1)
        x = x + self.alpha_attn.tanh() * self.attn(h)[:, :n_visual, :]
        x = x + self.alpha_dense.tanh() * self.ff(self.norm2(x))
        return x


def set_fusers_enabled(unet: Any, enabled: bool) -> int:
    """Switch every GLIGEN fuser of ``unet`` on or off (off: the text-to-image UNet); the number switched."""
    fusers = [m for m in unet.modules() if isinstance(m, GatedSelfAttentionDense)]
    for m in fusers:
        m.enabled = enabled
    return len(fusers)


def has_token_positions(unet: Any) -> bool:
    return any(isinstance(m, PositionalGatedSelfAttention) for m in unet.modules())


def is_positional_name(name: str) -> bool:
    """Whether a parameter name belongs to a positional fuser's own layer (``pos_proj``)."""
    return ".pos_proj." in name


def checkpoint_has_token_positions(grounding: dict[str, Any]) -> bool:
    """Whether a GLIGEN trainer checkpoint's ``grounding`` state was trained with positional fusers."""
    return any(is_positional_name(k) for k in grounding)


def add_token_positions(unet: Any) -> Any:
    """Replace every fuser of a gated ``unet`` by a :class:`PositionalGatedSelfAttention` keeping its weights
    (the new ``pos_proj`` is fresh; with the gates at 0 the UNet computes what it computed). In place.

    Raises:
        ValueError: ``unet`` has no fusers (not built with ``attention_type="gated"``).
    """
    blocks = [m for m in unet.modules() if isinstance(getattr(m, "fuser", None), GatedSelfAttentionDense)]
    if not blocks:
        raise ValueError("the UNet has no GLIGEN fusers; build it with attention_type='gated' first")
    for block in blocks:
        old = block.fuser
        if isinstance(old, PositionalGatedSelfAttention):
            continue
        query_dim, context_dim = old.linear.out_features, old.linear.in_features
        heads = old.attn.heads
        new = PositionalGatedSelfAttention(query_dim, context_dim, heads, old.attn.inner_dim // heads)
        missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
        if unexpected or any(not k.startswith("pos_proj.") for k in missing):
            raise ValueError(f"fuser weights do not fit: missing {missing}, unexpected {unexpected}")
        p = next(old.parameters())
        block.fuser = new.to(device=p.device, dtype=p.dtype)
    return unet
