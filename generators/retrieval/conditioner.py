"""The trained retrieval conditioning (Re-Imagen / RDM style): the neighbours' CLIP image and text
embeddings, projected into extra cross-attention tokens appended to the prompt's text tokens.

For ``k`` neighbours the conditioner emits ``k`` image tokens and (``use_text``) ``k`` text tokens, each
``cross_attention_dim`` wide, plus a learned slot embedding per position; the UNet's cross-attention reads
``[text tokens (77), retrieval tokens (T)]``. Without neighbours (the "no retrieval" branches of guidance,
and dropped retrieval in training) the retrieval tokens are learned null tokens, so the sequence length
never changes.

Example:
    >>> import torch
    >>> cond = RetrievalConditioner(embed_dim=16, cross_attention_dim=32, num_neighbours=4)
    >>> tokens = cond(torch.randn(2, 3, 16), torch.randn(2, 3, 16))   # 3 of 4 neighbours
    >>> tuple(tokens.shape), tuple(cond.null_tokens(2).shape)
    ((2, 8, 32), (2, 8, 32))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["RetrievalConditioner"]


class RetrievalConditioner(ModelMixin, ConfigMixin):
    """Project ``k`` neighbours' CLIP embeddings into ``T`` cross-attention tokens.

    Args:
        embed_dim: the CLIP projection dimension ``D`` of the knowledge base.
        cross_attention_dim: the UNet's ``cross_attention_dim`` ``C``.
        num_neighbours: ``K``, the most neighbours per prompt (fewer are padded with null tokens).
        use_text: also emit one token per neighbour caption.
        hidden_dim: width of the projection MLPs (default ``2 * C``).
    """

    @register_to_config
    def __init__(
        self,
        embed_dim: int,
        cross_attention_dim: int,
        num_neighbours: int = 4,
        use_text: bool = True,
        hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden_dim or 2 * cross_attention_dim
        self.image_proj = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, cross_attention_dim)
        )
        self.text_proj = (
            nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, cross_attention_dim))
            if use_text
            else None
        )
        n_tokens = num_neighbours * (2 if use_text else 1)
        self.slots = nn.Parameter(torch.randn(n_tokens, cross_attention_dim) * 0.02)
        self.null = nn.Parameter(torch.randn(n_tokens, cross_attention_dim) * 0.02)
        self.norm = nn.LayerNorm(cross_attention_dim)

    @property
    def num_tokens(self) -> int:
        """``T``, the retrieval tokens appended to the text tokens."""
        return self.slots.shape[0]

    def null_tokens(self, batch: int) -> torch.Tensor:
        """The "no retrieval" tokens, `(batch, T, C)`."""
        return self.norm(self.null + self.slots)[None].expand(batch, -1, -1)

    def forward(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval tokens.

        Args:
            image_embeds (`torch.Tensor` of shape `(B, k, D)`): the neighbours' CLIP image embeddings, ``k <= K``.
            text_embeds (`torch.Tensor` of shape `(B, k, D)`, optional): their caption embeddings (needed when
                ``use_text``).

        Returns:
            `torch.Tensor` of shape `(B, T, C)`.
        """
        b, k, _ = image_embeds.shape
        big_k = self.config.num_neighbours
        if k > big_k:
            raise ValueError(
                f"the conditioner takes at most {big_k} neighbours, got {k}; retrieve k <= {big_k}"
            )
        dtype = self.slots.dtype
        tokens = [self.image_proj(F.normalize(image_embeds.to(dtype), dim=-1))]  # (B, k, C)
        pad = [self.null[None, k:big_k].expand(b, -1, -1)]  # (B, K - k, C)
        if self.text_proj is not None:
            if text_embeds is None or text_embeds.shape[:2] != image_embeds.shape[:2]:
                raise ValueError(
                    "this conditioner uses the neighbours' captions: pass text_embeds of shape (B, k, D)"
                )
            tokens += pad + [self.text_proj(F.normalize(text_embeds.to(dtype), dim=-1))]  # (B, k, C)
            pad = [self.null[None, big_k + k :].expand(b, -1, -1)]
        out = torch.cat(tokens + pad, dim=1)  # (B, T, C)
        return self.norm(out + self.slots[None])
