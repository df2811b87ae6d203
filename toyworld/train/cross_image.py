"""Cross-image self-attention for training: each generated image's queries attend to its own keys and
values and to those of its other images (views of the same objects), as video and multi-view diffusion
models train cross-frame attention.

Rows of the UNet batch come in groups of ``G``: row 0 of a group is the image being denoised, rows
``1 .. G-1`` are its other images (``present[b, g]`` says which exist; absent rows are padding). The
other images attend to themselves only::

    k_b = [k_(b,0), k_(b,1), ..., k_(b,G-1)]                   # (heads, G * N, head_dim)
    out_(b,0) = softmax(q_(b,0) k_b^T * scale + bias_b) v_b     # bias -inf on absent rows' keys
    out_(b,g) = softmax(q_(b,g) k_(b,g)^T * scale) v_(b,g)      # g >= 1

With ``masks`` (each other image's object), the bias is as FreeCustom's multi-reference self-attention
gives it at inference: ``+mask_weight`` on an other image's keys inside its object, ``-inf`` outside
(:func:`workbench.attention.masks.masks_to_tokens` reduces the masks to each layer's grid).

This is the training counterpart of multi-reference self-attention (``workbench.attention``): a model
trained so learns to carry appearance from one image to another through self-attention, which Stable
Diffusion learned from the repeated objects and textures of natural images.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

from workbench.attention.masks import masks_to_tokens, token_grid
from workbench.attention.projection import output_projection, project_self_attention

__all__ = ["CrossImageAttnProcessor", "CrossImageState"]


class CrossImageState:
    """What the processors of one UNet call share: ``present`` `(B, G)` bool, row 0 of each group ``True``;
    optionally ``masks`` `(B, G, H, W)` bool (each other image's object; row 0 unused) at the latents'
    ``latent_hw`` or any size, and the logit ``mask_weight`` added inside them."""

    def __init__(self, mask_weight: float = 0.0) -> None:
        self.present: torch.Tensor | None = None
        self.masks: torch.Tensor | None = None
        self.latent_hw: tuple[int, int] | None = None
        self.mask_weight = float(mask_weight)

    @property
    def group(self) -> int:
        if self.present is None:
            raise RuntimeError("set CrossImageState.present (B, G) before the UNet call")
        return self.present.shape[1]


class CrossImageAttnProcessor:
    """Self-attention of grouped rows (see the module doc); cross-attention goes to ``AttnProcessor2_0``."""

    def __init__(self, state: CrossImageState) -> None:
        self.state = state
        self.plain = AttnProcessor2_0()

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or self.state.present is None:
            return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        p = project_self_attention(attn, hidden_states, temb)
        rows, heads, n, d = p.query.shape
        g = self.state.group
        if rows % g:
            raise ValueError(f"{rows} rows do not split into groups of {g}")
        b = rows // g
        q, k, v = (x.view(b, g, heads, n, d) for x in (p.query, p.key, p.value))  # (B, G, h, N, d)

        # 1. the other images: plain self-attention
        others = F.scaled_dot_product_attention(
            q[:, 1:].flatten(0, 1), k[:, 1:].flatten(0, 1), v[:, 1:].flatten(0, 1), scale=attn.scale
        ).view(b, g - 1, heads, n, d)  # (B, G-1, h, N, d)
        # 2. the generated image: its own keys and every present other image's
        k_all = k.permute(0, 2, 1, 3, 4).reshape(b, heads, g * n, d)  # (B, h, G*N, d)
        v_all = v.permute(0, 2, 1, 3, 4).reshape(b, heads, g * n, d)
        present = self.state.present.to(q.device).repeat_interleave(n, dim=1)  # (B, G*N)
        bias = torch.zeros(present.shape, dtype=q.dtype, device=q.device).masked_fill(~present, float("-inf"))
        if self.state.masks is not None:
            bias = bias + self._mask_bias(n).to(q.device, q.dtype)
        own = F.scaled_dot_product_attention(
            q[:, 0], k_all, v_all, attn_mask=bias[:, None, None, :], scale=attn.scale
        )  # (B, h, N, d)
        out = torch.cat([own[:, None], others], dim=1)  # (B, G, h, N, d)
        return output_projection(attn, out.flatten(0, 1), p)

    def _mask_bias(self, n: int) -> torch.Tensor:
        """`(B, G*N)`: 0 on the generated image's own keys; ``+mask_weight`` inside an other image's object,
        ``-inf`` outside."""
        masks = self.state.masks  # (B, G, H, W)
        b, g = masks.shape[:2]
        grid = token_grid(self.state.latent_hw or masks.shape[-2:], n)
        inside = masks_to_tokens(masks.flatten(0, 1), grid).view(b, g, n)  # (B, G, N)
        bias = torch.full((b, g, n), self.state.mask_weight).masked_fill(~inside, float("-inf"))
        bias[:, 0] = 0.0
        return bias.flatten(1)
