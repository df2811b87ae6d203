"""Concept binding for reference attention: each generated token draws on the reference of its own concept.

Plain multi-reference self-attention (MRSA) lets every generated token attend to every reference's masked
keys; at the noisy steps that decide colour and texture the generated objects are not yet told apart, so an
object can take its partner's appearance. Binding tells them apart with the generated image's own
cross-attention: the attention of its tokens to each concept's phrase in the target prompt (``"a large
circle on the left"`` of ``"a large circle on the left and a large triangle on the right"``), captured by
:class:`CrossAttentionCapture` processors on the cross-attention layers of the same UNet call, averaged over
the phrase's tokens, the heads and every cross-attention layer that ran before the reference-attention layer
(on SD-shaped UNets the encoder's, mid block's and coarser decoder levels': where a scene is laid out from
its caption), brought to the common latent grid (bilinear) and to each layer's grid (area).

With ``m_r(i)`` the map of concept ``r`` at token ``i`` divided by its maximum over the image, the reference
logits of query ``i`` against reference ``r``'s keys get

- ``"soft"``: ``strength * log(m_r(i) / max_r' m_r'(i))``: ``0`` for the token's leading concept, negative
  for the others (equal maps: plain MRSA);
- ``"hard"``: ``0`` for the leading concept (argmax), ``-inf`` for the others: a token attends to its own
  image's keys and to its own concept's reference only.

The maps are averaged over the denoising steps so far (each step's mean over its layers weighing the same):
once drawn, a layout stays where it is, and the later steps' own maps, spread over the whole image, would
no longer tell the objects apart (on the toy SD the argmax of one step's maps agrees with the prompted boxes
for 0.88-0.94 of their tokens up to step 8 of 25 and for 0.48 at the last; of the running mean, 0.82-0.95 at
every step). A reference-attention layer that runs before any cross-attention layer of the first call runs
plain MRSA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

from workbench.attention.masks import token_grid
from workbench.attention.selection import layer_names

__all__ = [
    "BIND_MODES",
    "BindMode",
    "ConceptBinding",
    "CrossAttentionCapture",
    "capture_processors",
    "concept_token_indices",
]

BindMode = Literal["off", "soft", "hard"]
BIND_MODES: tuple[str, ...] = ("off", "soft", "hard")
_EPS = 1e-6
_CONNECTIVES = {"and", ",", "."}


def concept_token_indices(
    tokenizer: Any, prompt: str, concept_prompts: Sequence[str], strict: bool = True
) -> list[list[int]]:
    """The positions, in ``prompt``'s token ids, of each concept's phrase: from the start of the concept
    prompt's tokens found in ``prompt`` (searched in order, after the previous concept's) up to the next
    concept's, connectives (``and``, ``,``, ``.``) and the end token left out: ``"a large circle on the
    left"`` of ``"a large circle on the left and a large triangle on the right"``, with its place words (the
    toy SD lays a scene out from them; its attention to the noun alone does not tell the objects apart).
    A concept prompt not found whole starts at its last word; one whose last word is not there either gets
    no tokens (``[]``) unless ``strict``.

    Raises:
        ValueError: with ``strict``, a concept's word is not in the prompt; a concept prompt without tokens.
    """
    target = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    special = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    starts: list[int | None] = []
    search = 0
    for text in concept_prompts:
        words = [t for t in tokenizer(text).input_ids if t not in special]
        if not words:
            raise ValueError(
                f"concept prompt {text!r} has no tokens; binding needs a word naming the concept"
            )
        n = len(words)
        found = next((i for i in range(search, len(target) - n + 1) if target[i : i + n] == words), None)
        if found is None:
            later = [i for i in range(search, len(target)) if target[i] == words[-1]]
            if not later and strict:
                raise ValueError(
                    f"binding needs each concept's words in the prompt, in the concepts' order: the last word "
                    f"of {text!r} is not in {prompt!r} after the previous concept; name the concept there or "
                    "set bind to 'off'"
                )
            found, n = (later[0], 1) if later else (None, 0)
        starts.append(found)
        search = search if found is None else found + n
    end = next((i for i in range(len(target) - 1, 0, -1) if target[i] not in special), 0) + 1
    tokens = tokenizer.convert_ids_to_tokens(target)
    named = sorted(s for s in starts if s is not None)
    out = []
    for start in starts:
        if start is None:
            out.append([])
            continue
        stop = next((s for s in named if s > start), end)
        out.append([i for i in range(start, stop) if tokens[i].replace("</w>", "") not in _CONNECTIVES])
    return out


class ConceptBinding:
    """Per-call cross-attention maps of the generated images to each concept's word, and the reference
    logit bias they give each generated token.

    Args:
        mode: ``"soft"`` or ``"hard"`` (see the module doc).
        token_indices: per reference, the prompt-token positions of its phrase (:func:`concept_token_indices`);
            its map is the mean of theirs. A reference with no tokens (a concept the prompt does not name)
            is not bound: every token may attend to it, as in plain MRSA, and it leads no token.
        latent_hw: the generated latents' ``(h, w)`` (the common grid the maps are averaged on).
        strength: the soft bias's multiplier (> 0; ignored by ``"hard"``).
    """

    def __init__(
        self,
        mode: str,
        token_indices: Sequence[Sequence[int]],
        latent_hw: tuple[int, int],
        strength: float = 1.0,
    ) -> None:
        if mode not in ("soft", "hard"):
            raise ValueError(f"bind must be one of {', '.join(BIND_MODES)}, got {mode!r}")
        if not math.isfinite(float(strength)) or float(strength) <= 0:
            raise ValueError(f"bind_strength must be a finite number > 0, got {strength}")
        if sum(bool(t) for t in token_indices) < 2:
            raise ValueError(
                f"binding needs prompt tokens for at least two concepts, got {[list(t) for t in token_indices]}"
            )
        self.mode = mode
        self.token_indices = [list(map(int, t)) for t in token_indices]
        self.latent_hw = (int(latent_hw[0]), int(latent_hw[1]))
        self.strength = float(strength)
        self._sum: torch.Tensor | None = None  # (B, R, h, w): this call's maps, summed over layers
        self._count = 0
        self._history: torch.Tensor | None = None  # (B, R, h, w): the earlier calls' mean maps, summed
        self._calls = 0

    @property
    def num_concepts(self) -> int:
        return len(self.token_indices)

    def _token_weights(self, length: int, device: torch.device) -> torch.Tensor:
        """`(L, R)`: column ``r`` averages concept ``r``'s tokens."""
        w = torch.zeros(length, self.num_concepts, device=device)
        for r, idx in enumerate(self.token_indices):
            if not idx:
                continue
            if max(idx) >= length:
                raise ValueError(
                    f"concept {r}'s prompt token {max(idx)} is beyond the {length} tokens of the prompt"
                )
            w[idx, r] = 1.0 / len(idx)
        return w

    def new_call(self) -> None:
        """Start a UNet call (a denoising step): the last call's mean map joins the history, this call's
        maps begin empty."""
        if self._count:
            mean = self._sum / self._count
            self._history = mean if self._history is None else self._history + mean
            self._calls += 1
        self._sum, self._count = None, 0

    def add(self, probs: torch.Tensor, grid: tuple[int, int]) -> None:
        """Add one cross-attention layer's maps.

        Args:
            probs (`torch.Tensor` of shape `(B, N, L)`): attention probabilities of the generated
                (conditional) rows over the ``L`` prompt tokens, averaged over heads; ``N = h * w`` of ``grid``.
        """
        b, n, _ = probs.shape
        maps = probs.float() @ self._token_weights(probs.shape[-1], probs.device)  # (B, N, R)
        maps = maps.transpose(1, 2).reshape(b, self.num_concepts, *grid)  # (B, R, h, w)
        if tuple(grid) != self.latent_hw:
            maps = F.interpolate(maps, size=self.latent_hw, mode="bilinear", align_corners=False)
        if self._sum is not None and self._sum.shape[0] != b:
            raise ValueError(
                f"cross-attention maps of {b} images after maps of {self._sum.shape[0]} in one call"
            )
        self._sum = maps if self._sum is None else self._sum + maps
        self._count += 1

    def maps(self) -> torch.Tensor | None:
        """`(B, R, h, w)`: the mean over the calls so far of each call's mean map (this call's over the
        layers that ran), ``None`` before any map."""
        items = self._calls + (1 if self._count else 0)
        if not items:
            return None
        total = (
            self._history
            if self._count == 0
            else (
                self._sum / self._count if self._history is None else self._history + self._sum / self._count
            )
        )
        return total / items

    def query_bias(self, grid: tuple[int, int], batch: int) -> torch.Tensor | None:
        """`(B, N, R)` float32 bias of each generated token's logits against each reference's keys at a layer of
        token grid ``grid``, or ``None`` when no maps exist yet (plain MRSA).

        Raises:
            ValueError: the maps cover another number of images than ``batch``.
        """
        maps = self.maps()
        if maps is None:
            return None
        if maps.shape[0] != batch:
            raise ValueError(f"binding maps cover {maps.shape[0]} images, the layer has {batch}")
        if tuple(grid) != self.latent_hw:
            maps = F.adaptive_avg_pool2d(maps, grid)  # (B, R, gh, gw)
        maps = maps.flatten(2)  # (B, R, N)
        rel = maps / maps.amax(dim=2, keepdim=True).clamp(min=_EPS)  # (B, R, N) in [0, 1]
        unbound = torch.tensor([not t for t in self.token_indices], device=rel.device)  # (R,)
        rel = rel.masked_fill(unbound[None, :, None], -1.0)  # an unnamed concept leads no token
        if self.mode == "hard":
            lead = rel.argmax(dim=1, keepdim=True)  # (B, 1, N)
            bias = torch.full_like(rel, float("-inf")).scatter(1, lead, 0.0)
        else:
            rel = rel.clamp(min=_EPS)
            bias = self.strength * torch.log(rel / rel.amax(dim=1, keepdim=True))  # (B, R, N), <= 0
        bias = bias.masked_fill(unbound[None, :, None], 0.0)  # ... and stays open to every token
        return bias.transpose(1, 2).contiguous()  # (B, N, R)


class CrossAttentionCapture:
    """Cross-attention processor that computes exactly what diffusers' ``AttnProcessor2_0`` computes and,
    while reference attention runs, adds the generated (conditional) rows' maps to the state's binding.

    Args:
        name: the layer's module name.
        state: the :class:`~workbench.attention.state.ReferenceAttentionState` shared with the
            reference-attention processors (its ``binding`` and batch layout).
    """

    def __init__(self, name: str, state: Any) -> None:
        self.name = name
        self.state = state
        self.plain = AttnProcessor2_0()

    def __repr__(self) -> str:
        return f"CrossAttentionCapture({self.name!r})"

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
        out = self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        binding = self.state.binding
        rows = self.state.generated_rows(hidden_states.shape[0], "cond")
        if binding is None or encoder_hidden_states is None or rows is None:
            return out
        x = hidden_states[rows]
        if attn.spatial_norm is not None:
            x = attn.spatial_norm(x, temb)
        if x.ndim == 4:
            b, c, h, w = x.shape
            x = x.view(b, c, h * w).transpose(1, 2)  # (B, N, C)
        if attn.group_norm is not None:
            x = attn.group_norm(x.transpose(1, 2)).transpose(1, 2)
        context = encoder_hidden_states[rows]
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        b, n, _ = x.shape
        query = attn.head_to_batch_dim(attn.to_q(x))  # (B * heads, N, d)
        key = attn.head_to_batch_dim(attn.to_k(context))  # (B * heads, L, d)
        probs = attn.get_attention_scores(query, key, None)  # (B * heads, N, L)
        probs = probs.view(b, attn.heads, n, -1).mean(dim=1)  # (B, N, L)
        binding.add(probs, token_grid(self.state.reference_hw, n))
        return out


def capture_processors(unet: Any, state: Any) -> dict[str, CrossAttentionCapture]:
    """One :class:`CrossAttentionCapture` per cross-attention layer of ``unet``, all sharing ``state``."""
    return {
        name: CrossAttentionCapture(name, state)
        for name in layer_names(unet)
        if bool(getattr(unet.get_submodule(name), "is_cross_attention", False))
    }
