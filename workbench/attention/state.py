"""The state shared by the reference-attention processors of one pipeline call: what mode they are in,
the reference keys / values of the current step, the concept masks and the blend weights.

Reference keys / values are computed once per step for the whole batch of generated images and kept in
a :class:`ReferenceKVCache`. The processors run in one of three modes:

- **record** (``with state.recording(("cond",))``): the UNet runs on the references alone (noised to the
  current timestep); every selected layer does plain self-attention and stores the references' keys and
  values.
- **attend** (``with state.attending(("uncond", "cond"))``): the UNet runs on the generated images; the
  selected layers' queries attend to their own keys / values concatenated with the cached ones of their
  branch.
- **joint** (``with state.joint(("cond",), ("uncond", "cond"))``): both in one UNet call, the reference
  rows first (``num_references`` rows per record branch), then the generated rows: each selected layer
  records the reference rows' keys / values and, in the same call, the generated rows attend to them. One
  UNet call per step instead of two: the cheaper choice when per-call overhead matters.

Outside these blocks (mode ``"off"``) the processors compute plain self-attention, exactly as diffusers'
``AttnProcessor2_0`` does.

Batches are laid out as diffusers lays out classifier-free guidance: rows split into equal, contiguous
chunks, one per branch name (``("uncond", "cond")``: first the unconditional rows, then the conditional).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from workbench.attention.binding import ConceptBinding
from workbench.attention.masks import MASK_RESIZE, MaskResize, reference_logit_bias

Mode = Literal["off", "record", "attend", "joint"]

__all__ = ["ReferenceAttentionState", "ReferenceKVCache"]


class ReferenceKVCache:
    """Reference keys and values per ``(layer, branch)``, each of shape `(R, heads, N, head_dim)`."""

    def __init__(self) -> None:
        self._store: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def put(self, layer: str, branch: str, key: torch.Tensor, value: torch.Tensor) -> None:
        if key.shape != value.shape or key.ndim != 4:
            raise ValueError(
                f"layer {layer!r}: keys and values must both be (R, heads, N, head_dim), "
                f"got {tuple(key.shape)} and {tuple(value.shape)}"
            )
        self._store[(layer, branch)] = (key, value)

    def get(self, layer: str, branch: str) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self._store[(layer, branch)]
        except KeyError:
            have = sorted({b for (n, b) in self._store if n == layer})
            raise KeyError(
                f"layer {layer!r} has no cached reference keys for branch {branch!r} (cached branches: "
                f"{', '.join(have) or 'none'}); run the reference pass with that branch before attending"
            ) from None

    def clear(self) -> None:
        self._store.clear()

    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() * 2 for k, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)


@dataclass
class ReferenceAttentionState:
    """Settings and per-step data of reference attention.

    Args:
        num_references: ``R``, the number of reference images.
        reference_hw: the references' latent ``(height, width)`` (to place the masks on each layer's tokens).
        masks (`torch.Tensor` of shape `(R, H, W)`, optional): concept masks, bool or float in [0, 1], at any
            resolution with the references' aspect ratio; ``None``: the whole reference is the concept.
        mask_weights: the logit added inside each mask, one float for all or `(R,)`.
        mask_resize: how a mask is reduced to each layer's token grid: ``"coverage"`` (half-covered tokens,
            a small concept keeps one token) or ``"nearest"`` (FreeCustom's nearest-neighbour interpolation);
            see :mod:`workbench.attention.masks`.
        mask_balance: add ``log(mean N / N_r)`` to reference ``r``'s weight at each layer (``N_r`` the tokens its
            mask keeps there), so that a concept's share of attention does not grow with its size in tokens
            (:func:`workbench.attention.masks.reference_logit_bias`).
        plain_weight: per branch, the weight of plain self-attention blended into the output
            (``out = (1 - p) * reference_attention + p * self_attention``); a branch not listed gets 0. FreeCustom's
            style fidelity is ``{"uncond": style_fidelity}``; with ``p = 1`` the branch needs no references.
        allowed (`torch.Tensor` of shape `(B, R)`, optional): which references each of the ``B`` generated
            images attends to (bool); ``None``: every image attends to every reference.
        binding: concept binding (:class:`~workbench.attention.binding.ConceptBinding`): each generated
            token's reference logits biased toward its own concept, from the image's cross-attention
            (captured by :class:`~workbench.attention.binding.CrossAttentionCapture` processors); ``None``:
            every token attends to every reference alike (the authors' MRSA).
    """

    num_references: int
    reference_hw: tuple[int, int]
    masks: torch.Tensor | None = None
    mask_weights: float | Sequence[float] | torch.Tensor = 0.0
    mask_resize: MaskResize = "coverage"
    mask_balance: bool = False
    plain_weight: Mapping[str, float] = field(default_factory=dict)
    allowed: torch.Tensor | None = None
    binding: ConceptBinding | None = None
    cache: ReferenceKVCache = field(default_factory=ReferenceKVCache)
    mode: Mode = "off"
    record_branches: tuple[str, ...] = ()
    query_branches: tuple[str, ...] = ()
    _bias: dict[tuple[tuple[int, int], str], torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.num_references < 1:
            raise ValueError(f"reference attention needs at least one reference, got {self.num_references}")
        w = torch.as_tensor(self.mask_weights, dtype=torch.float32).reshape(-1)
        if w.numel() == 1:
            w = w.expand(self.num_references).clone()
        if w.numel() != self.num_references or not torch.isfinite(w).all():
            raise ValueError(
                f"mask_weights must be one finite float or {self.num_references} of them, got {self.mask_weights!r}"
            )
        self.mask_weights = w
        if self.mask_resize not in MASK_RESIZE:
            raise ValueError(f"mask_resize must be one of {', '.join(MASK_RESIZE)}, got {self.mask_resize!r}")
        if self.masks is not None:
            if self.masks.ndim != 3 or self.masks.shape[0] != self.num_references:
                raise ValueError(
                    f"masks must have shape ({self.num_references}, H, W), got {tuple(self.masks.shape)}"
                )
            if not (self.masks.float() > 0.5).flatten(1).any(dim=1).all():
                raise ValueError("every reference mask must select at least one pixel")
        for branch, p in self.plain_weight.items():
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"plain_weight[{branch!r}] must lie in [0, 1], got {p}")
        if self.binding is not None and self.binding.num_concepts != self.num_references:
            raise ValueError(
                f"the binding names {self.binding.num_concepts} concepts for {self.num_references} references"
            )
        if self.allowed is not None and (
            self.allowed.ndim != 2 or self.allowed.shape[1] != self.num_references
        ):
            raise ValueError(
                f"allowed must have shape (B, {self.num_references}), got {tuple(self.allowed.shape)}"
            )

    # ------------------------------------------------------------------ modes
    @contextlib.contextmanager
    def _mode(
        self, mode: Mode, record: Sequence[str] = (), query: Sequence[str] = ()
    ) -> Iterator[ReferenceAttentionState]:
        if self.mode != "off":
            raise RuntimeError(f"reference attention is already in mode {self.mode!r}; modes do not nest")
        if (mode in ("record", "joint") and not record) or (mode in ("attend", "joint") and not query):
            raise ValueError(f"mode {mode!r} needs at least one branch name for each of its passes")
        self.mode, self.record_branches, self.query_branches = mode, tuple(record), tuple(query)
        try:
            yield self
        finally:
            self.mode, self.record_branches, self.query_branches = "off", (), ()

    def recording(self, branches: Sequence[str] = ("cond",)) -> contextlib.AbstractContextManager:
        """Inside: selected layers store the batch's keys / values under ``branches`` (one chunk each)."""
        return self._mode("record", record=branches)

    def attending(self, branches: Sequence[str] = ("uncond", "cond")) -> contextlib.AbstractContextManager:
        """Inside: selected layers attend to the cached references of each row's branch."""
        return self._mode("attend", query=branches)

    def joint(
        self, record: Sequence[str] = ("cond",), query: Sequence[str] = ("uncond", "cond")
    ) -> contextlib.AbstractContextManager:
        """Inside: the first ``len(record) * num_references`` rows are recorded, the rest attend to them."""
        return self._mode("joint", record=record, query=query)

    def generated_rows(self, batch: int, branch: str) -> slice | None:
        """The rows of ``branch``'s generated images in a UNet batch of ``batch`` rows (after the reference
        rows in joint mode), or ``None`` outside reference attention or when the branch is not queried."""
        if self.mode not in ("attend", "joint") or branch not in self.query_branches:
            return None
        start = len(self.record_branches) * self.num_references if self.mode == "joint" else 0
        rest = batch - start
        if rest <= 0 or rest % len(self.query_branches):
            return None
        per = rest // len(self.query_branches)
        i = self.query_branches.index(branch)
        return slice(start + i * per, start + (i + 1) * per)

    def needs_references(self, branch: str) -> bool:
        """Whether rows of ``branch`` use reference keys (their plain-attention weight is below 1)."""
        return float(self.plain_weight.get(branch, 0.0)) < 1.0

    # ------------------------------------------------------------------ bias
    def logit_bias(self, grid: tuple[int, int], device: torch.device) -> torch.Tensor:
        """`(R * h * w,)` float32 bias of the reference keys at token grid ``grid`` (cached per grid)."""
        key = (tuple(grid), str(device))
        if key not in self._bias:
            masks = self.masks.to(device) if self.masks is not None else None
            self._bias[key] = reference_logit_bias(
                masks,
                self.mask_weights.to(device),
                grid,
                self.num_references,
                self.mask_resize,
                self.mask_balance,
            )
        return self._bias[key]
