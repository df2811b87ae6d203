"""A concept to compose: one reference image, its mask and its prompt, validated on construction.

Accepted inputs and the conversions applied (anything else raises a ``ConceptError`` that says what to do):

- ``image``: a float tensor `(3, H, W)` or `(1, 3, H, W)` in [0, 1]; a grey tensor `(H, W)` or `(1, H, W)`
  (repeated to 3 channels); a ``PIL.Image`` of any mode (converted to RGB; transparent pixels are
  composited on white); a numpy array `(H, W, 3)` / `(H, W)`, ``uint8`` or float in [0, 1]. uint8 tensors,
  4-channel tensors and values outside [0, 1] are refused.
- ``mask``: a bool or [0, 1] float tensor / array `(H, W)` or `(1, H, W)` (inside: > 0.5), a uint8 array
  (inside: > 127), or a ``PIL.Image`` (converted to L, inside: > 127), of the image's exact size and
  selecting at least one pixel; ``None`` means the whole reference is the concept.
- At generation, references whose size differs from the output size are resized to it (bilinear with
  antialiasing; masks by area, inside when at least half covered); a different aspect ratio stretches
  them and logs a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

logger = logging.getLogger(__name__)

MAX_CONCEPTS = 8

__all__ = ["MAX_CONCEPTS", "Concept", "ConceptError", "PreparedConcepts", "prepare_concepts"]


class ConceptError(ValueError):
    """A concept's image, mask or prompt is unusable; the message says which and what to pass instead."""


def _image_to_tensor(image: Any) -> torch.Tensor:
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        image = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] in (1, 3):
            arr = arr.transpose(2, 0, 1)  # (C, H, W)
        elif arr.ndim == 3:
            raise ConceptError(f"a reference array must be (H, W, 3) or (H, W), got shape {arr.shape}")
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        image = torch.from_numpy(np.ascontiguousarray(arr)).float()
    if not isinstance(image, torch.Tensor):
        raise ConceptError(
            f"a reference image must be a tensor, a PIL image or a numpy array, got {type(image).__name__}"
        )
    t = image.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ConceptError(f"one reference image per concept, got a batch of shape {tuple(t.shape)}")
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ConceptError(
            f"a reference image tensor must be (3, H, W) RGB or (H, W) grey, got shape {tuple(t.shape)}"
            + ("; drop or composite its alpha channel first" if t.ndim == 3 and t.shape[0] == 4 else "")
        )
    if not t.is_floating_point():
        raise ConceptError(
            f"a reference image tensor must be float in [0, 1], got {t.dtype}; divide uint8 by 255"
        )
    if t.numel() == 0 or t.min() < 0 or t.max() > 1 or not torch.isfinite(t).all():
        raise ConceptError(
            "a reference image must hold finite values in [0, 1] (images here are [0, 1], not [-1, 1])"
        )
    return t.float().expand(3, -1, -1).contiguous().cpu()  # (3, H, W)


def _mask_to_tensor(mask: Any) -> torch.Tensor:
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"), dtype=np.uint8)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask > 127 if mask.dtype == np.uint8 else mask))
    if not isinstance(mask, torch.Tensor):
        raise ConceptError(
            f"a mask must be a tensor, a PIL image, a numpy array or None, got {type(mask).__name__}"
        )
    m = mask.detach()
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ConceptError(f"a mask must be (H, W) (one channel), got shape {tuple(m.shape)}")
    if m.dtype != torch.bool:
        if not m.is_floating_point():
            raise ConceptError(f"a mask tensor must be bool or float in [0, 1], got {m.dtype}")
        if m.numel() == 0 or m.min() < 0 or m.max() > 1:
            raise ConceptError("a float mask must hold values in [0, 1] (inside: > 0.5)")
        m = m > 0.5
    return m.cpu()  # (H, W) bool


@dataclass
class Concept:
    """One concept of a composition.

    Args:
        image: the reference image (see the module docstring for the accepted forms); stored as a float
            tensor `(3, H, W)` in [0, 1].
        prompt: the concept's own prompt (``"a large striped red circle"``, ``"a dog"``): the text the
            reference is denoised with.
        mask: where the concept is in ``image``, same size; stored as a bool tensor `(H, W)`; ``None``: the
            whole image.

    Raises:
        ConceptError: an unusable image, mask or prompt.
    """

    image: Any
    prompt: str
    mask: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ConceptError(f"a concept prompt must be a string, got {type(self.prompt).__name__}")
        self.image = _image_to_tensor(self.image)
        h, w = self.image.shape[-2:]
        if self.mask is None:
            self.mask = torch.ones(h, w, dtype=torch.bool)
        else:
            self.mask = _mask_to_tensor(self.mask)
            if tuple(self.mask.shape) != (h, w):
                mh, mw = self.mask.shape
                raise ConceptError(
                    f"concept {self.prompt!r}: the mask is {mh}x{mw} but its reference image is {h}x{w} (HxW); "
                    "give a mask of the image's size"
                )
            if not self.mask.any():
                raise ConceptError(
                    f"concept {self.prompt!r}: the mask is empty; it must select the concept's pixels "
                    "(pass mask=None to use the whole image)"
                )


@dataclass
class PreparedConcepts:
    """Concepts resized to the generation size.

    Attributes:
        images (`torch.Tensor` of shape `(R, 3, H, W)`): in [0, 1].
        masks (`torch.Tensor` of shape `(R, H, W)`): bool.
        prompts: ``R`` concept prompts.
    """

    images: torch.Tensor
    masks: torch.Tensor
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


def _as_concept(item: Any, index: int) -> Concept:
    if isinstance(item, Concept):
        return item
    if isinstance(item, Mapping):
        unknown = set(item) - {"image", "prompt", "mask"}
        if unknown or not {"image", "prompt"} <= set(item):
            raise ConceptError(
                f"concept {index}: a dict needs keys 'image' and 'prompt' (and optionally 'mask'), got {sorted(item)}"
            )
        return Concept(**item)
    raise ConceptError(
        f"concept {index}: expected a Concept (or a dict with image / prompt / mask), got {type(item).__name__}"
    )


def prepare_concepts(concepts: Sequence[Any], height: int, width: int) -> PreparedConcepts:
    """Validate ``concepts`` and resize them to ``(height, width)``.

    Args:
        concepts: 1 to :data:`MAX_CONCEPTS` :class:`Concept` (or dicts with ``image``, ``prompt``, ``mask``).
        height, width: the generation size in pixels.

    Raises:
        ConceptError: no concepts, too many, or one unusable concept.
    """
    if isinstance(concepts, (Concept, Mapping)) or concepts is None:
        raise ConceptError(
            "concepts must be a list of Concept (one per reference image), e.g. [Concept(image, 'a dog')]"
        )
    concepts = [_as_concept(c, i) for i, c in enumerate(concepts)]
    if not concepts:
        raise ConceptError(
            "no concepts given: multi-concept generation needs at least one Concept (reference image + prompt); "
            "for text-only generation use StableDiffusionPipeline.from_pipe(pipe)"
        )
    if len(concepts) > MAX_CONCEPTS:
        raise ConceptError(
            f"{len(concepts)} concepts given; at most {MAX_CONCEPTS} are supported (every reference adds a UNet "
            "row and keys to attend over); compose fewer concepts per image"
        )
    images, masks = [], []
    for c in concepts:
        img, mask = c.image, c.mask  # (3, h, w), (h, w)
        h, w = img.shape[-2:]
        if (h, w) != (height, width):
            if abs(h / w - height / width) > 0.01 * height / width:
                logger.warning(
                    "concept %r: reference %dx%d is stretched to %dx%d (another aspect ratio)",
                    c.prompt,
                    h,
                    w,
                    height,
                    width,
                )
            img = F.interpolate(
                img[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False
            )[0]
            img = img.clamp(0, 1)
            mask = F.interpolate(mask[None, None].float(), size=(height, width), mode="area")[0, 0] >= 0.5
            if not mask.any():
                raise ConceptError(
                    f"concept {c.prompt!r}: its mask covers less than one pixel once resized from {h}x{w} to "
                    f"{height}x{width}; give a larger mask or a reference at the generation size"
                )
        images.append(img)
        masks.append(mask)
    return PreparedConcepts(
        images=torch.stack(images), masks=torch.stack(masks), prompts=[c.prompt for c in concepts]
    )
