"""The modality-gap shift: move image and text embeddings towards each other.

CLIP's image and text embeddings live in two separate cones (the modality gap). Master images exploit
it: an image close to the centre of the *text* cone is near every caption at once. Shifting every
text embedding by ``+shift * g`` and every image embedding by ``-shift * g`` (``g = mean image
embedding - mean text embedding``, unit-norm embeddings, renormalised after the shift) narrows the
gap, which lowers master images' scores more than real images'. The paper uses ``shift = 0.25``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..evaluation import embed_images
from ..scorers.base import Scorer


@torch.no_grad()
def modality_gap(
    scorer: Scorer, images: torch.Tensor, prompts: Sequence[str], batch_size: int = 64
) -> torch.Tensor:
    """The gap vector ``mean(image embeddings) - mean(text embeddings)``.

    Args:
        scorer: the model.
        images (`torch.Tensor` of shape `(N, 3, H, W)`): real images in [0, 1] (the paper: ImageNet's).
        prompts: captions / class prompts.

    Returns:
        `torch.Tensor` of shape `(D,)`.
    """
    if images.shape[0] == 0 or not prompts:
        raise ValueError("the modality gap needs at least one image and one prompt")
    img = embed_images(scorer, images, batch_size)  # (N, D)
    txt = scorer.encode_text(list(prompts))  # (P, D)
    return img.mean(dim=0) - txt.mean(dim=0).to(img.device)


class ShiftedScorer(Scorer):
    """A scorer whose embeddings are shifted across the modality gap.

    Args:
        scorer: the model to protect.
        gap (`torch.Tensor` of shape `(D,)`): from :func:`modality_gap`.
        shift: the fraction of the gap each modality moves (the paper: 0.25).
    """

    def __init__(self, scorer: Scorer, gap: torch.Tensor, shift: float = 0.25) -> None:
        super().__init__()
        if not 0 < shift <= 1:
            raise ValueError(f"shift must be in (0, 1], got {shift}")
        self.inner = scorer
        self.shift = float(shift)
        self.register_buffer(
            "offset", (gap.detach().float() * self.shift).to(scorer.device), persistent=False
        )
        self.score_kind = scorer.score_kind
        self.image_size = scorer.image_size
        self.name = f"{scorer.name}+shift{shift:g}"

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        t = self.inner.encode_text(prompts)  # (P, D)
        return F.normalize(t + self.offset.to(t.device), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        e = self.inner.encode_image(images)  # (B, D)
        return F.normalize(e - self.offset.to(e.device), dim=-1)

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self.inner.similarity(image_emb, text_emb)
