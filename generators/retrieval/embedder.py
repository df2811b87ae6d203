"""The CLIP embedder of a knowledge base: [0, 1] images and captions in, L2-normalised embeddings out,
with a name and a fingerprint of the weights that a knowledge base records in its manifest.

The fingerprint is the SHA-256 of every weight tensor (names, shapes and float32 values). A base also
stores the embeddings of two fixed probes (a procedural image and a caption): a CLIP whose weights hash
differently (another precision of the same model, say) is accepted when its probe embeddings match, and
refused otherwise.

Example:
    >>> from workbench.dummy import dummy_clip
    >>> model, processor = dummy_clip()
    >>> embedder = ClipEmbedder(model, processor, name="dummy-clip")
    >>> embedder.embed_texts(["a red circle"]).shape
    torch.Size([1, 16])
    >>> len(embedder.fingerprint)
    64
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import torch
import torch.nn.functional as F

from metrics.embedding.encoders import CLIPImageEncoder, clip_text_embeddings, model_name

logger = logging.getLogger(__name__)

__all__ = ["PROBE_TEXT", "ClipEmbedder", "probe_image", "weights_fingerprint"]

PROBE_TEXT = "a large striped red circle on the left and a small blue square on the right"


def weights_fingerprint(model: torch.nn.Module) -> str:
    """Hex SHA-256 of a module's weights: every ``state_dict`` entry's name, shape and float32 values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu")
        digest.update(f"{name}:{tuple(t.shape)}:".encode())
        t = t.float() if t.dtype.is_floating_point else t
        digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


def probe_image(size: int = 64) -> torch.Tensor:
    """A fixed procedural probe image (colour ramps and a disc), `(1, 3, size, size)` in [0, 1]."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    disc = (((xs - 0.35) ** 2 + (ys - 0.4) ** 2) < 0.05).float()  # (S, S)
    image = (
        torch.stack([xs, ys, 0.5 * (1 - xs)]) * (1 - disc)
        + disc * torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    )
    return image[None].clamp(0, 1)  # (1, 3, S, S)


class ClipEmbedder:
    """CLIP image and text embeddings for a knowledge base.

    Args:
        model: `transformers.CLIPModel` (the toy CLIP, a hub CLIP, or a random-weight one); eval mode is forced.
        processor: its ``CLIPProcessor`` (image settings and tokenizer).
        name: the model's name in the manifest (default ``model.config.name_or_path``).
        batch_size: images / texts per forward pass.
    """

    def __init__(self, model: Any, processor: Any, name: str | None = None, batch_size: int = 64) -> None:
        self.model = model.eval()
        self.processor = processor
        self.image_encoder = CLIPImageEncoder(model, processor, name=name)
        self.name = name or model_name(model, "clip")
        self.batch_size = int(batch_size)
        self.dim = int(model.config.projection_dim)
        self._fingerprint: str | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the weights (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model)
        return self._fingerprint

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Embed images.

        Args:
            images (`torch.Tensor` of shape `(N, 3, H, W)`): in [0, 1].

        Returns:
            `torch.Tensor` of shape `(N, D)`: float32 on the CPU, unit L2 norm.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        out = []
        for s in range(0, images.shape[0], self.batch_size):
            chunk = images[s : s + self.batch_size].to(self.device, torch.float32)  # (b, 3, H, W)
            out.append(F.normalize(self.image_encoder(chunk).float(), dim=-1).cpu())  # (b, D)
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Embed captions (cut at the text encoder's context length).

        Returns:
            `torch.Tensor` of shape `(N, D)`: float32 on the CPU, unit L2 norm.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = []
        for s in range(0, len(texts), self.batch_size):
            emb, _ = clip_text_embeddings(self.model, self.processor, texts[s : s + self.batch_size])
            out.append(F.normalize(emb.float(), dim=-1).cpu())  # (b, D)
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def probe(self) -> dict[str, list[float]]:
        """The embeddings of the fixed probes (``image`` and ``text``), as lists for the manifest."""
        return {
            "image": self.embed_images(probe_image())[0].tolist(),
            "text": self.embed_texts([PROBE_TEXT])[0].tolist(),
        }

    def describe(self) -> dict[str, Any]:
        """The manifest's ``embedder`` record: name, fingerprint, dimension and probe embeddings."""
        return {"name": self.name, "fingerprint": self.fingerprint, "dim": self.dim, "probe": self.probe()}
