"""Reference attention (FreeCustom's multi-reference self-attention, MRSA) as a diffusers attention
processor.

In mode ``"attend"`` a generated image's queries attend to its own keys / values concatenated with every
reference's (cached by the ``"record"`` pass of the same step)::

    logits = q @ [k_own, k_ref_1, ..., k_ref_R]^T * scale          # (B, heads, N, N + R * N_r)
    logits[..., ref r] += w_r inside reference r's mask, -inf outside
    logits[b, :, i, ref r] += bind[b, i, r]      # concept binding, when the state has one
    out = softmax(logits) @ [v_own, v_ref_1, ..., v_ref_R]         # (B, heads, N, head_dim)

and rows of a branch with a plain-attention weight ``p`` (style fidelity, unconditional branch) get
``(1 - p) * out + p * self_attention``. Cross-attention calls, and every call in mode ``"off"``, go to
diffusers' ``AttnProcessor2_0`` unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

from workbench.attention.masks import token_grid
from workbench.attention.projection import output_projection, project_self_attention
from workbench.attention.selection import resolve_layers
from workbench.attention.state import ReferenceAttentionState

__all__ = ["ReferenceAttnProcessor", "reference_attention", "reference_processors"]


def reference_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    ref_key: torch.Tensor,
    ref_value: torch.Tensor,
    ref_bias: torch.Tensor,
    scale: float,
    allowed: torch.Tensor | None = None,
    query_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention of queries over their own keys plus shared reference keys, with a logit bias.

    Args:
        query, key, value (`torch.Tensor` of shape `(B, heads, N, head_dim)`): the generated rows.
        ref_key, ref_value (`torch.Tensor` of shape `(R, heads, N_r, head_dim)`): computed once, shared by
            all ``B`` rows.
        ref_bias (`torch.Tensor` of shape `(R * N_r,)`): added to the reference logits (``-inf`` masks out).
        scale: the logit scale (``attn.scale``, ``head_dim ** -0.5`` in Stable Diffusion).
        allowed (`torch.Tensor` of shape `(B, R)`, optional): bool; ``False`` masks reference ``r`` out for row ``b``.
        query_bias (`torch.Tensor` of shape `(B, N, R)`, optional): added to query ``i``'s logits against every
            key of reference ``r`` (concept binding, :mod:`workbench.attention.binding`; ``-inf`` masks out).

    Returns:
        `torch.Tensor` of shape `(B, heads, N, head_dim)`.
    """
    b, heads, n, d = query.shape
    r, _, n_r, _ = ref_key.shape
    # (R, h, N_r, d) -> (1, h, R*N_r, d) -> (B, h, R*N_r, d): a view, shared by the batch
    ref_k = ref_key.permute(1, 0, 2, 3).reshape(1, heads, r * n_r, d).expand(b, -1, -1, -1)
    ref_v = ref_value.permute(1, 0, 2, 3).reshape(1, heads, r * n_r, d).expand(b, -1, -1, -1)
    k_cat = torch.cat([key, ref_k], dim=2)  # (B, h, N + R*N_r, d)
    v_cat = torch.cat([value, ref_v], dim=2)  # (B, h, N + R*N_r, d)
    bias = torch.cat([ref_bias.new_zeros(key.shape[2]), ref_bias])  # (N + R*N_r,)
    if allowed is None:
        mask = bias.view(1, 1, 1, -1)  # (1, 1, 1, L)
    else:
        blocked = ~allowed.to(bias.device, torch.bool).repeat_interleave(n_r, dim=1)  # (B, R*N_r)
        blocked = torch.cat([blocked.new_zeros(b, key.shape[2]), blocked], dim=1)  # (B, L)
        mask = bias.view(1, -1).expand(b, -1).masked_fill(blocked, float("-inf")).view(b, 1, 1, -1)
    if query_bias is not None:
        if query_bias.shape != (b, n, r):
            raise ValueError(f"query_bias must have shape {(b, n, r)}, got {tuple(query_bias.shape)}")
        per_key = query_bias.to(bias.device, bias.dtype).repeat_interleave(n_r, dim=2)  # (B, N, R*N_r)
        per_key = torch.cat([per_key.new_zeros(b, n, key.shape[2]), per_key], dim=2)  # (B, N, L)
        mask = mask + per_key[:, None]  # (B, 1, N, L); own keys unchanged, so no row is all -inf
    return F.scaled_dot_product_attention(
        query, k_cat, v_cat, attn_mask=mask.to(query.dtype), dropout_p=0.0, scale=scale
    )  # (B, h, N, d)


class ReferenceAttnProcessor:
    """Attention processor for one self-attention layer, driven by a shared :class:`ReferenceAttentionState`.

    Install it with ``unet.set_attn_processor`` (see
    :func:`workbench.attention.install.attn_processors_installed`) on self-attention layers only
    (``...attn1``); :func:`workbench.attention.selection.resolve_layers` picks them by block names.

    Args:
        name: the layer's module name (the cache key of its reference keys / values).
        state: the state shared by every processor of one call.
    """

    def __init__(self, name: str, state: ReferenceAttentionState) -> None:
        self.name = name
        self.state = state
        self.plain = AttnProcessor2_0()

    def __repr__(self) -> str:
        return f"ReferenceAttnProcessor({self.name!r})"

    def _chunks(self, x: torch.Tensor, branches: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        if x.shape[0] % len(branches):
            raise ValueError(
                f"{self.name}: {x.shape[0]} rows do not split into the {len(branches)} branches {branches}; "
                "the UNet input must hold one equal chunk per branch"
            )
        return x.chunk(len(branches))

    def _record(
        self, attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, branches: tuple[str, ...]
    ) -> torch.Tensor:
        """Plain self-attention of reference rows `(R * len(branches), h, N, d)`; caches their keys / values."""
        for branch, kb, vb in zip(branches, self._chunks(k, branches), self._chunks(v, branches)):
            self.state.cache.put(self.name, branch, kb, vb)
        return F.scaled_dot_product_attention(q, k, v, scale=attn.scale)  # (rows, h, N, d)

    def _attend(
        self, attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, branches: tuple[str, ...]
    ) -> torch.Tensor:
        """Reference attention of generated rows `(B * len(branches), h, N, d)`, branch by branch."""
        state = self.state
        outs = []
        for branch, qb, kb, vb in zip(
            branches, self._chunks(q, branches), self._chunks(k, branches), self._chunks(v, branches)
        ):
            p = float(state.plain_weight.get(branch, 0.0))
            plain = F.scaled_dot_product_attention(qb, kb, vb, scale=attn.scale) if p > 0 else None
            if p >= 1.0:
                outs.append(plain)
                continue
            ref_k, ref_v = state.cache.get(self.name, branch)  # (R, h, N_r, d)
            allowed = state.allowed
            if allowed is not None and allowed.shape[0] != qb.shape[0]:
                raise ValueError(
                    f"{self.name}: 'allowed' covers {allowed.shape[0]} images but branch {branch!r} has {qb.shape[0]} rows"
                )
            grid = token_grid(state.reference_hw, ref_k.shape[2])
            query_bias = (
                None if state.binding is None else state.binding.query_bias(grid, qb.shape[0])
            )  # (B, N, R) or None
            out = reference_attention(
                qb, kb, vb, ref_k, ref_v, state.logit_bias(grid, qb.device), attn.scale, allowed, query_bias
            )
            outs.append(out if plain is None else (1.0 - p) * out + p * plain)
        return torch.cat(outs)  # (rows, h, N, d)

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
        state = self.state
        if state.mode == "off" or encoder_hidden_states is not None:
            return self.plain(
                attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs
            )
        if attention_mask is not None:
            raise ValueError(
                f"{self.name}: reference attention does not take an attention mask in self-attention"
            )

        # 1. Project: q, k, v of shape (B, heads, N, head_dim)
        p = project_self_attention(attn, hidden_states, temb)
        query, key, value = p.query, p.key, p.value
        batch = query.shape[0]

        # 2. Record the reference rows, attend with the generated rows
        if state.mode == "record":
            out = self._record(attn, query, key, value, state.record_branches)
        elif state.mode == "attend":
            out = self._attend(attn, query, key, value, state.query_branches)
        else:  # joint: reference rows first, then generated rows
            n_rec = len(state.record_branches) * state.num_references
            if batch <= n_rec:
                raise ValueError(
                    f"{self.name}: joint mode needs {n_rec} reference rows followed by generated rows, got {batch} rows"
                )
            out = torch.cat(
                [
                    self._record(attn, query[:n_rec], key[:n_rec], value[:n_rec], state.record_branches),
                    self._attend(attn, query[n_rec:], key[n_rec:], value[n_rec:], state.query_branches),
                ]
            )  # (B, h, N, d)

        # 3. Output projection, as AttnProcessor2_0
        return output_projection(attn, out, p)


def reference_processors(
    unet: Any, selection: str | list[str], state: ReferenceAttentionState
) -> dict[str, ReferenceAttnProcessor]:
    """One :class:`ReferenceAttnProcessor` per layer of ``selection`` (see
    :func:`workbench.attention.selection.resolve_layers`), all sharing ``state``.

    Example:
        >>> from workbench.attention import ReferenceAttentionState, attn_processors_installed
        >>> from workbench.dummy import dummy_unet
        >>> unet = dummy_unet()
        >>> state = ReferenceAttentionState(num_references=2, reference_hw=(16, 16), mask_weights=3.0)
        >>> with attn_processors_installed(unet, reference_processors(unet, "freecustom", state)):
        ...     sorted({type(p).__name__ for p in unet.attn_processors.values()})
        ['AttnProcessor2_0', 'ReferenceAttnProcessor']
    """
    return {name: ReferenceAttnProcessor(name, state) for name in resolve_layers(unet, selection)}
