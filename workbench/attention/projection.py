"""The projections around a self-attention layer's core, as diffusers' ``AttnProcessor2_0`` computes them,
for processors that change only what happens between them (reference attention, cross-image attention).

Example:
    >>> import torch
    >>> from diffusers.models.attention_processor import Attention, AttnProcessor2_0
    >>> attn = Attention(query_dim=16, heads=2, dim_head=8).eval()
    >>> x = torch.randn(3, 5, 16)
    >>> p = project_self_attention(attn, x)
    >>> out = torch.nn.functional.scaled_dot_product_attention(p.query, p.key, p.value, scale=attn.scale)
    >>> torch.allclose(output_projection(attn, out, p), AttnProcessor2_0()(attn, x), atol=1e-6)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SelfAttentionInputs", "output_projection", "project_self_attention"]


@dataclass
class SelfAttentionInputs:
    """``query``, ``key``, ``value`` of shape `(B, heads, N, head_dim)`; the layer input ``residual`` and, for
    a `(B, C, H, W)` input, its ``shape`` (``None`` for `(B, N, C)`)."""

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    residual: torch.Tensor
    shape: tuple[int, int, int, int] | None


def project_self_attention(
    attn: Any, hidden_states: torch.Tensor, temb: torch.Tensor | None = None
) -> SelfAttentionInputs:
    """Spatial norm, flattening, group norm, q / k / v projections, head split and q / k norms."""
    residual = hidden_states
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    shape = None
    if hidden_states.ndim == 4:
        shape = tuple(hidden_states.shape)
        batch, channel, height, width = shape
        hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)  # (B, N, C)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    batch = hidden_states.shape[0]
    query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
    head_dim = key.shape[-1] // attn.heads
    query, key, value = (x.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for x in (query, key, value))
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    return SelfAttentionInputs(query, key, value, residual, shape)


def output_projection(attn: Any, out: torch.Tensor, inputs: SelfAttentionInputs) -> torch.Tensor:
    """Heads merged, output projection, the input's layout back, residual and output rescaling.

    Args:
        out (`torch.Tensor` of shape `(B, heads, N, head_dim)`): the attention's result.
    """
    batch, heads, _, head_dim = out.shape
    hidden_states = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(inputs.query.dtype)
    hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
    if inputs.shape is not None:
        hidden_states = hidden_states.transpose(-1, -2).reshape(inputs.shape)
    if attn.residual_connection:
        hidden_states = hidden_states + inputs.residual
    return hidden_states / attn.rescale_output_factor
