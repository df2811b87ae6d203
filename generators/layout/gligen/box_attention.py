"""Box-masked grounding attention: a visual token attends only to the grounding tokens whose box covers it.

GLIGEN's fuser attends over ``[visual tokens; grounding tokens]`` with no restriction: which grounding token
a visual token should read (the one whose box covers it) must be learned. On the toy SD it is not, within
the steps a CPU affords: the fusers first learn a box-independent correction of the frozen toy SD and the
boxes' gain on the held-out loss stays near 0.3 % (``docs/layout.md``, GLIGEN section). As later layout
methods do, this fuser restricts the attention by box instead: an additive bias of 0 where visual token
``i``'s grid cell overlaps grounding token ``j``'s box and ``-inf`` elsewhere, padded or absent grounding
tokens (``masks == 0``) masked for every visual token; a visual token covered by no box attends only to
visual tokens. Visual-to-visual attention and the grounding tokens' own rows (whose outputs are dropped)
are unchanged. Departure from the paper; no new parameters.

The boxes reach the fusers through the grounding tokens themselves: :class:`BoxCarryingPositionNet` is
GLIGEN's position net whose output also carries each token's box and mask, ``(B, M, D + 5)``, which the
fuser splits off before its ``linear``. So every caller that gives the UNet
``cross_attention_kwargs={"gligen": {"boxes", "positive_embeddings", "masks"}}`` (the trainer,
``StableDiffusionGLIGENPipeline`` and its subclass ``GroundedGLIGENPipeline``) passes the boxes on, and the
mask goes to the fuser's ``Attention`` as its ``attention_mask``, so any installed attention processor that
honours masks keeps working.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention import GatedSelfAttentionDense
from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

from .positional import PositionalGatedSelfAttention, token_boxes

__all__ = [
    "BOX_CHANNELS",
    "BoxCarryingPositionNet",
    "BoxMaskedGatedSelfAttention",
    "BoxMaskedPositionalGatedSelfAttention",
    "add_box_attention",
    "checkpoint_has_box_attention",
    "grounding_attention_bias",
    "has_box_attention",
]

BOX_CHANNELS = 5  # (x0, y0, x1, y1, mask) appended to each grounding token


class BoxCarryingPositionNet(GLIGENTextBoundingboxProjection):
    """GLIGEN's text-only position net whose grounding tokens also carry their box and mask:
    `(B, M, D + 5)` = ``[objs; x0, y0, x1, y1; mask]``."""

    def forward(self, boxes: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        # boxes: (B, M, 4) in [0, 1]; masks: (B, M), 1 for a present box
        objs = super().forward(boxes, masks, **kwargs)  # (B, M, D)
        return torch.cat([objs, boxes.to(objs.dtype), masks[..., None].to(objs.dtype)], -1)


def grounding_attention_bias(cells: torch.Tensor, boxes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """The additive attention bias over ``[visual; grounding]`` tokens: `(B, N + M, N + M)`, 0 everywhere but
    visual -> grounding, where it is 0 if the visual token's cell overlaps the (present) box, else ``-inf``.

    Args:
        cells: `(N, 4)` each visual token's grid cell ``(x0, y0, x1, y1)`` in [0, 1] (:func:`token_boxes`).
        boxes: `(B, M, 4)` the grounding tokens' boxes in [0, 1].
        present: `(B, M)` 1 for a real box, 0 for padding or a dropped one.
    """
    b, m, _ = boxes.shape
    n = cells.shape[0]
    c, bx = cells[None, :, None, :], boxes[:, None, :, :]  # (1, N, 1, 4), (B, 1, M, 4)
    overlap = (
        (bx[..., 0] < c[..., 2])
        & (bx[..., 2] > c[..., 0])
        & (bx[..., 1] < c[..., 3])
        & (bx[..., 3] > c[..., 1])
    )
    allowed = overlap & (present[:, None, :] > 0)  # (B, N, M)
    bias = torch.zeros(b, n + m, n + m, device=boxes.device, dtype=boxes.dtype)
    bias[:, :n, n:] = torch.zeros(allowed.shape, dtype=boxes.dtype, device=boxes.device).masked_fill(
        ~allowed, float("-inf")
    )
    return bias


class BoxMaskedGatedSelfAttention(GatedSelfAttentionDense):
    """GLIGEN's ``GatedSelfAttentionDense`` whose visual tokens attend only to the grounding tokens whose box
    covers them (:func:`grounding_attention_bias`); takes :class:`BoxCarryingPositionNet`'s tokens."""

    def visual_offset(self, n_visual: int, like: torch.Tensor) -> torch.Tensor | None:
        """What is added to the normalised visual tokens before the attention (none here)."""
        return None

    def forward(self, x: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
        # x: (B, N, C) visual tokens; objs: (B, M, D + 5) grounding tokens with their boxes and masks
        if not self.enabled:
            return x
        n_visual = x.shape[1]
        boxes, present = objs[..., -BOX_CHANNELS:-1], objs[..., -1]  # (B, M, 4), (B, M)
        objs = self.linear(objs[..., :-BOX_CHANNELS])  # (B, M, C)
        h = self.norm1(torch.cat([x, objs], dim=1))  # (B, N + M, C)
        offset = self.visual_offset(n_visual, x)
        if offset is not None:
            h = torch.cat([h[:, :n_visual] + offset, h[:, n_visual:]], dim=1)
        bias = grounding_attention_bias(token_boxes(n_visual, x.device, x.dtype), boxes.to(x.dtype), present)
        x = x + self.alpha_attn.tanh() * self.attn(h, attention_mask=bias)[:, :n_visual, :]
        x = x + self.alpha_dense.tanh() * self.ff(self.norm2(x))
        return x


class BoxMaskedPositionalGatedSelfAttention(BoxMaskedGatedSelfAttention, PositionalGatedSelfAttention):
    """Box-masked attention whose visual tokens also carry their grid cell's embedding (``pos_proj``)."""

    def visual_offset(self, n_visual: int, like: torch.Tensor) -> torch.Tensor | None:
        return self.position_embedding(n_visual, like)  # (1, N, C)


def has_box_attention(unet: Any) -> bool:
    return isinstance(getattr(unet, "position_net", None), BoxCarryingPositionNet)


def checkpoint_has_box_attention(trainer_state: dict[str, Any]) -> bool:
    """Whether a GLIGEN trainer checkpoint's ``trainer`` state was trained with box-masked attention (no
    weights tell it: the flag is stored beside them)."""
    return bool(trainer_state.get("box_attention", False))


def _box_position_net(old: GLIGENTextBoundingboxProjection) -> BoxCarryingPositionNet:
    if not hasattr(old, "linears"):
        raise ValueError("box-masked grounding attention supports the text-only position net only")
    new = BoxCarryingPositionNet(old.positive_len, old.out_dim, "text-only", old.fourier_embedder_dim)
    new.load_state_dict(old.state_dict())
    p = next(old.parameters())
    return new.to(device=p.device, dtype=p.dtype)


def add_box_attention(unet: Any) -> Any:
    """Make a gated ``unet``'s grounding attention box-masked, keeping every weight (a positional fuser
    stays positional); with the gates at 0 the UNet computes what it computed. In place.

    Raises:
        ValueError: ``unet`` has no fusers (not built with ``attention_type="gated"``).
    """
    blocks = [m for m in unet.modules() if isinstance(getattr(m, "fuser", None), GatedSelfAttentionDense)]
    if not blocks:
        raise ValueError("the UNet has no GLIGEN fusers; build it with attention_type='gated' first")
    if not has_box_attention(unet):
        unet.position_net = _box_position_net(unet.position_net)
    for block in blocks:
        old = block.fuser
        if isinstance(old, BoxMaskedGatedSelfAttention):
            continue
        kind = (
            BoxMaskedPositionalGatedSelfAttention
            if isinstance(old, PositionalGatedSelfAttention)
            else BoxMaskedGatedSelfAttention
        )
        heads = old.attn.heads
        new = kind(old.linear.out_features, old.linear.in_features, heads, old.attn.inner_dim // heads)
        new.load_state_dict(old.state_dict())
        new.enabled = old.enabled
        p = next(old.parameters())
        block.fuser = new.to(device=p.device, dtype=p.dtype)
    return unet
