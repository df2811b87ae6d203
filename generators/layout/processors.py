"""Cross-attention recording processors: the attention maps that layout guidance steers and the demo shows.

A :class:`RecordingAttnProcessor` replaces the processor of one cross-attention layer (``attn2``) and
keeps the layer's own processor as its fallback. While its :class:`AttentionStore` is idle it calls the
fallback, so the UNet computes exactly what it computed before; while the store records it computes the
attention probabilities explicitly and hands them to the store (with their graph, for guidance).

Install them with :func:`recording_processors` (a context manager that restores every processor it
replaced, also when the call raises)::

    store = AttentionStore(sizes={16 * 16})
    with recording_processors(pipe.unet, store):
        with store.recording():
            pipe.unet(latents, t, encoder_hidden_states=cond)
        maps = store.maps  # layer name -> (B, H*W, T)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from workbench.attention import attn_processors_installed, layer_names, match_pattern

__all__ = [
    "PLACES",
    "AttentionStore",
    "RecordingAttnProcessor",
    "StopForward",
    "cross_attention_layers",
    "recording_processors",
    "token_count",
]

PLACES: tuple[str, ...] = ("down", "mid", "up")


class StopForward(Exception):
    """Raised by a recording processor once every wanted map of a forward pass is recorded (early exit)."""


PLACE_PATTERNS: dict[str, str] = {
    "down": "down_blocks.**.attn2",
    "mid": "mid_block.**.attn2",
    "up": "up_blocks.**.attn2",
}


def cross_attention_layers(unet: Any, places: Iterable[str] = PLACES) -> list[str]:
    """Module names of the text cross-attention layers (``attn2``) in ``places`` (``down``, ``mid``, ``up``),
    in ``unet.attn_processors`` order; GLIGEN's gated self-attention (``fuser``) is never selected."""
    places = list(places)
    unknown = [p for p in places if p not in PLACE_PATTERNS]
    if unknown:
        raise ValueError(f"unknown UNet places {unknown}; choose from {PLACES}")
    return [n for n in layer_names(unet) if any(match_pattern(PLACE_PATTERNS[p], n) for p in places)]


def token_count(latent_hw: tuple[int, int], resolution: int) -> int:
    """Spatial tokens of an attention map whose longer side is ``resolution`` for latents ``latent_hw``."""
    h, w = latent_hw
    factor = max(h, w) / resolution
    if factor < 1 or abs(factor - round(factor)) > 1e-6 or (round(factor) & (round(factor) - 1)):
        raise ValueError(
            f"attention resolution {resolution} does not divide the latent size {h}x{w} by a power of two; "
            f"use one of {sorted({max(h, w) >> k for k in range(6) if max(h, w) >> k >= 1}, reverse=True)}"
        )
    f = round(factor)
    return math.ceil(h / f) * math.ceil(w / f)


class AttentionStore:
    """Collects cross-attention probabilities of the layers whose map has one of ``sizes`` tokens.

    Args:
        sizes: spatial token counts to record (``h * w`` of the map, see :func:`token_count`).
        early_exit: raise :class:`StopForward` once the layers wanted in a forward pass are all recorded
            (their number is learnt on the first recording pass), so guidance skips the rest of the UNet.

    Attributes:
        maps: layer name -> `torch.Tensor` of shape `(B, h*w, T)`, head-averaged probabilities of the last
            recording pass (with their autograd graph).
        seen: the spatial token counts of every cross-attention call seen while recording.
        totals: map side -> `(B, h*w, T)` sums of detached maps over the accumulating passes
            (:meth:`accumulating`), with ``counts`` the number of maps summed.
    """

    def __init__(self, sizes: Iterable[int], early_exit: bool = False) -> None:
        self.sizes = set(int(s) for s in sizes)
        self.early_exit = early_exit
        self.maps: dict[str, torch.Tensor] = {}
        self.seen: set[int] = set()
        self.totals: dict[int, torch.Tensor] = {}
        self.counts: dict[int, int] = {}
        self._mode: str | None = None
        self._select: slice | None = None
        self._expected: int | None = None

    @property
    def active(self) -> bool:
        return self._mode is not None

    @contextlib.contextmanager
    def recording(self) -> Iterator[AttentionStore]:
        """Record the next forward pass into :attr:`maps` (cleared first)."""
        self.maps = {}
        self._mode = "record"
        try:
            yield self
        finally:
            self._mode = None
            if self._expected is None and self.maps:
                self._expected = len(self.maps)

    @contextlib.contextmanager
    def accumulating(self, select: slice | None = None) -> Iterator[AttentionStore]:
        """Add the detached maps of the next forward pass to :attr:`totals` (batch rows ``select`` only,
        e.g. the conditional half of a classifier-free-guidance batch)."""
        self._mode = "accumulate"
        self._select = select
        try:
            yield self
        finally:
            self._mode = None
            self._select = None

    def wants(self, spatial_tokens: int) -> bool:
        self.seen.add(spatial_tokens)
        return spatial_tokens in self.sizes

    def add(self, name: str, probs: torch.Tensor) -> None:
        """Store head-averaged probabilities ``probs`` of shape `(B, h*w, T)` from layer ``name``."""
        if self._mode == "record":
            self.maps[name] = probs
            if self.early_exit and self._expected is not None and len(self.maps) >= self._expected:
                raise StopForward
        elif self._mode == "accumulate":
            p = probs.detach().float()
            if self._select is not None:
                p = p[self._select]
            key = p.shape[1]
            self.totals[key] = self.totals.get(key, 0) + p
            self.counts[key] = self.counts.get(key, 0) + 1

    def mean_maps(self) -> dict[int, torch.Tensor]:
        """Accumulated maps averaged over layers and passes: map side -> `(B, h*w, T)`."""
        return {k: v / self.counts[k] for k, v in self.totals.items()}


class RecordingAttnProcessor:
    """An attention processor that records cross-attention probabilities into an :class:`AttentionStore`.

    Args:
        name: the layer's module name (``"up_blocks.1.attentions.0.transformer_blocks.0.attn2"``).
        store: where maps go.
        fallback: the layer's original processor, called whenever the store is idle.
    """

    def __init__(self, name: str, store: AttentionStore, fallback: Any) -> None:
        self.name = name
        self.store = store
        self.fallback = fallback

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        spatial = (
            hidden_states.shape[1]
            if hidden_states.ndim == 3
            else hidden_states.shape[2] * hidden_states.shape[3]
        )
        if not self.store.active or encoder_hidden_states is None or not self.store.wants(spatial):
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        # the explicit path of diffusers' AttnProcessor, keeping the probabilities
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)  # (B, HW, C)
        batch, text_len, _ = encoder_hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, text_len, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)  # (B, HW, inner)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)  # (B, T, inner)
        value = attn.to_v(encoder_hidden_states)  # (B, T, inner)
        query = attn.head_to_batch_dim(query)  # (B*heads, HW, d)
        key = attn.head_to_batch_dim(key)  # (B*heads, T, d)
        value = attn.head_to_batch_dim(value)  # (B*heads, T, d)
        probs = attn.get_attention_scores(query, key, attention_mask)  # (B*heads, HW, T)
        hidden_states = torch.bmm(probs, value)  # (B*heads, HW, d)
        hidden_states = attn.batch_to_head_dim(hidden_states)  # (B, HW, inner)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        hidden_states = hidden_states / attn.rescale_output_factor
        heads = probs.shape[0] // batch
        self.store.add(self.name, probs.view(batch, heads, *probs.shape[1:]).mean(1))  # (B, HW, T)
        return hidden_states


@contextlib.contextmanager
def recording_processors(
    unet: Any, store: AttentionStore, places: Iterable[str] = PLACES
) -> Iterator[list[str]]:
    """Install a :class:`RecordingAttnProcessor` on every text cross-attention layer in ``places`` for the
    duration of the block (the shared :func:`workbench.attention.attn_processors_installed`: every original
    processor is put back afterwards, also on error).

    Yields:
        The module names of the layers that record.
    """
    places = tuple(places)
    names = cross_attention_layers(unet, places)
    if not names:
        raise ValueError(
            f"the UNet has no text cross-attention layer in {places}; it cannot be steered by a layout"
        )
    current = unet.attn_processors
    processors = {n: RecordingAttnProcessor(n, store, current[n + ".processor"]) for n in names}
    with attn_processors_installed(unet, processors):
        yield names
