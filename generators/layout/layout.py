"""Layouts: phrases with normalised xyxy boxes, or a semantic label map; validated on creation.

The one box format of the project is **normalised xyxy**: ``(x0, y0, x1, y1)`` with
``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1``, image coordinates (x to the right, y down).

Example:
    >>> layout = BoxLayout(phrases=["a red circle", "a blue square"],
    ...                    boxes=[(0.05, 0.3, 0.45, 0.7), (0.55, 0.3, 0.95, 0.7)])
    >>> layout.check_prompt("a red circle on the left and a blue square on the right")
    >>> tuple(layout.region_masks(8, 8).shape)
    (2, 8, 8)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["DEFAULT_MAX_OVERLAP", "BoxLayout", "LayoutError", "SemanticLayout", "box_iou", "phrase_in_prompt"]

DEFAULT_MAX_OVERLAP = 0.7  # IoU above which two boxes are taken to claim the same place
MIN_SIDE = 1e-3  # a box side below this (normalised) has no area


class LayoutError(ValueError):
    """A layout that cannot be honoured: the message says what is wrong and how to fix it."""


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two normalised xyxy boxes (0 when either has no area)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def phrase_in_prompt(phrase: str, prompt: str) -> bool:
    """Whether ``phrase`` occurs in ``prompt`` as whole words (case-insensitive, spaces collapsed)."""
    norm_phrase = " ".join(phrase.lower().split())
    norm_prompt = " ".join(prompt.lower().split())
    if not norm_phrase:
        return False
    return re.search(r"(?<![\w])" + re.escape(norm_phrase) + r"(?![\w])", norm_prompt) is not None


def _check_prompt(phrases: Sequence[str], prompt: str) -> None:
    missing = [p for p in phrases if not phrase_in_prompt(p, prompt)]
    if missing:
        raise LayoutError(
            f"phrase(s) {missing} do not occur in the prompt {prompt!r}; each layout phrase must be a "
            "word-for-word part of the prompt (its tokens are what the layout steers)"
        )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _box_masks(boxes: Sequence[Sequence[float]], height: int, width: int) -> torch.Tensor:
    """Binary masks (N, H, W): pixel (y, x) is inside a box when its centre is (at least one pixel)."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height  # (H,)
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width  # (W,)
    masks = torch.zeros(len(boxes), height, width)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        inside_y = (ys >= y0) & (ys <= y1)
        inside_x = (xs >= x0) & (xs <= x1)
        if not inside_y.any():  # a box thinner than a pixel keeps the pixel it lies in
            inside_y[min(int((y0 + y1) / 2 * height), height - 1)] = True
        if not inside_x.any():
            inside_x[min(int((x0 + x1) / 2 * width), width - 1)] = True
        masks[i] = (inside_y[:, None] & inside_x[None, :]).float()  # (H, W)
    return masks


class BoxLayout(BaseModel):
    """Phrases, each with the normalised xyxy box it must fill.

    Args:
        phrases: one phrase per box, each a word-for-word part of the prompt it is used with
            (``"a red circle"`` in ``"a red circle on the left and ..."``).
        boxes: ``(x0, y0, x1, y1)`` per phrase, ``0 <= x0 < x1 <= 1``, ``0 <= y0 < y1 <= 1``, y down.
        max_overlap: the largest IoU allowed between two boxes (two objects cannot claim one place).
        reserved: boxes kept free of objects (tagline / logo areas of a poster); not steered.

    Raises:
        LayoutError: boxes outside [0, 1] or inverted, zero area, more boxes than phrases (or the
            reverse), empty phrases, overlap above ``max_overlap``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    phrases: list[str]
    boxes: list[tuple[float, float, float, float]]
    max_overlap: float = Field(default=DEFAULT_MAX_OVERLAP, gt=0.0, le=1.0)
    reserved: list[tuple[float, float, float, float]] = Field(default_factory=list)

    def __init__(self, **data: object) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # one clear LayoutError instead of pydantic's wrapper
            raise LayoutError(_validation_message(exc)) from None

    @field_validator("boxes", "reserved", mode="before")
    @classmethod
    def _as_tuples(cls, value: object) -> object:
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            out = []
            for i, box in enumerate(value):
                if isinstance(box, torch.Tensor):
                    box = box.tolist()
                if not isinstance(box, (list, tuple)) or len(box) != 4:
                    raise LayoutError(
                        f"box {i} is {box!r}; a box is four numbers (x0, y0, x1, y1) normalised to [0, 1]"
                    )
                out.append(tuple(float(v) for v in box))
            return out
        return value

    @model_validator(mode="after")
    def _validate(self) -> BoxLayout:
        if not self.phrases:
            raise LayoutError("a layout needs at least one phrase with its box")
        if len(self.boxes) > len(self.phrases):
            raise LayoutError(
                f"{len(self.boxes)} boxes but only {len(self.phrases)} phrases: each box needs the phrase "
                "that goes into it (add phrases or remove boxes)"
            )
        if len(self.boxes) < len(self.phrases):
            raise LayoutError(
                f"{len(self.phrases)} phrases but only {len(self.boxes)} boxes: phrase(s) "
                f"{self.phrases[len(self.boxes) :]} have no box"
            )
        for i, phrase in enumerate(self.phrases):
            if not phrase.strip():
                raise LayoutError(f"phrase {i} is empty; give the words of the prompt that go into box {i}")
        for kind, boxes in (("box", self.boxes), ("reserved box", self.reserved)):
            for i, (x0, y0, x1, y1) in enumerate(boxes):
                name = f"{kind} {i} {(x0, y0, x1, y1)}" + (f" ({self.phrases[i]!r})" if kind == "box" else "")
                if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
                    raise LayoutError(
                        f"{name} lies outside the image: boxes are normalised xyxy with every coordinate "
                        "in [0, 1] (divide pixel coordinates by the image width / height)"
                    )
                if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
                    raise LayoutError(
                        f"{name} has zero area: need x0 < x1 and y0 < y1 (normalised xyxy, y down), "
                        f"each side at least {MIN_SIDE}"
                    )
        for i in range(len(self.boxes)):
            for j in range(i + 1, len(self.boxes)):
                iou = box_iou(self.boxes[i], self.boxes[j])
                if iou > self.max_overlap:
                    raise LayoutError(
                        f"boxes {i} ({self.phrases[i]!r}) and {j} ({self.phrases[j]!r}) overlap with IoU "
                        f"{iou:.2f} > max_overlap {self.max_overlap}: two objects cannot fill the same place; "
                        "move one box or raise max_overlap"
                    )
        for i, box in enumerate(self.boxes):
            for j, res in enumerate(self.reserved):
                if box_iou(box, res) > 0:
                    raise LayoutError(
                        f"box {i} ({self.phrases[i]!r}) overlaps reserved box {j} {res}: reserved areas "
                        "stay free of objects"
                    )
        return self

    def __len__(self) -> int:
        return len(self.phrases)

    def check_prompt(self, prompt: str) -> None:
        """Raise :class:`LayoutError` unless every phrase occurs word for word in ``prompt``."""
        _check_prompt(self.phrases, prompt)

    def region_masks(self, height: int, width: int) -> torch.Tensor:
        """One binary mask per phrase at ``height`` x ``width``.

        Returns:
            `torch.Tensor` of shape `(N, height, width)`, float32 in {0, 1}.
        """
        return _box_masks(self.boxes, height, width)

    def as_boxes(self) -> BoxLayout:
        return self

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class SemanticLayout:
    """A per-pixel label map: label ``k`` (1-based) is the region of ``phrases[k - 1]``; 0 is background.

    Args:
        phrases: one phrase per label.
        label_map: `torch.Tensor` of shape `(H, W)`, integer labels in ``[0, len(phrases)]``.
        max_overlap: the IoU limit applied to the regions' bounding boxes (see :class:`BoxLayout`).

    Raises:
        LayoutError: labels beyond the phrases (more regions than phrases), a phrase whose label has no
            pixel (zero area), a map that is not 2-D integers.
    """

    phrases: list[str]
    label_map: torch.Tensor
    max_overlap: float = 1.0
    _boxes: list = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lm = self.label_map
        if not isinstance(lm, torch.Tensor):
            lm = torch.as_tensor(lm)
            object.__setattr__(self, "label_map", lm)
        if lm.ndim != 2 or lm.dtype.is_floating_point or lm.dtype == torch.bool:
            raise LayoutError(
                f"label_map must be an integer tensor of shape (H, W), got dtype {lm.dtype} and shape {tuple(lm.shape)}"
            )
        if not self.phrases:
            raise LayoutError("a semantic layout needs at least one phrase")
        if int(lm.min()) < 0:
            raise LayoutError(
                f"label_map holds negative label {int(lm.min())}; labels are 0 (background) .. N"
            )
        top = int(lm.max())
        if top > len(self.phrases):
            raise LayoutError(
                f"label_map uses label {top} but only {len(self.phrases)} phrases were given: more regions than "
                "phrases (label k needs phrases[k - 1])"
            )
        h, w = lm.shape
        boxes = []
        for k, phrase in enumerate(self.phrases, start=1):
            if not phrase.strip():
                raise LayoutError(f"phrase {k - 1} is empty")
            ys, xs = torch.nonzero(lm == k, as_tuple=True)
            if len(ys) == 0:
                raise LayoutError(
                    f"phrase {phrase!r} (label {k}) has zero area: no pixel of label_map is {k}"
                )
            boxes.append(
                (
                    float(xs.min()) / w,
                    float(ys.min()) / h,
                    (float(xs.max()) + 1) / w,
                    (float(ys.max()) + 1) / h,
                )
            )
        object.__setattr__(self, "_boxes", boxes)
        self.as_boxes()  # the overlap limit on the regions' bounding boxes

    def __len__(self) -> int:
        return len(self.phrases)

    @property
    def boxes(self) -> list[tuple[float, float, float, float]]:
        """Each region's bounding box, normalised xyxy."""
        return list(self._boxes)

    def check_prompt(self, prompt: str) -> None:
        """Raise :class:`LayoutError` unless every phrase occurs word for word in ``prompt``."""
        _check_prompt(self.phrases, prompt)

    def region_masks(self, height: int, width: int) -> torch.Tensor:
        """One binary mask per phrase at ``height`` x ``width`` (nearest resampling of the label map).

        Returns:
            `torch.Tensor` of shape `(N, height, width)`, float32 in {0, 1}.
        """
        h, w = self.label_map.shape
        ys = ((torch.arange(height) + 0.5) * h / height).long().clamp(max=h - 1)  # (height,)
        xs = ((torch.arange(width) + 0.5) * w / width).long().clamp(max=w - 1)  # (width,)
        small = self.label_map[ys][:, xs]  # (height, width)
        masks = torch.stack(
            [(small == k).float() for k in range(1, len(self.phrases) + 1)]
        )  # (N, height, width)
        empty = masks.flatten(1).sum(1) == 0
        if empty.any():  # a region smaller than one cell keeps its bounding box's cells
            boxes = _box_masks([self._boxes[i] for i in range(len(self.phrases))], height, width)
            masks[empty] = boxes[empty]
        return masks

    def as_boxes(self) -> BoxLayout:
        """The bounding boxes of the regions as a :class:`BoxLayout` (for box-only methods)."""
        return BoxLayout(phrases=list(self.phrases), boxes=self._boxes, max_overlap=self.max_overlap)

    @classmethod
    def from_masks(cls, phrases: Sequence[str], masks: torch.Tensor) -> SemanticLayout:
        """Build from an instance mask (H, W) whose ids 1..N follow ``phrases`` (the shapes world's masks)."""
        return cls(phrases=list(phrases), label_map=torch.as_tensor(masks).long())


Layout = BoxLayout | SemanticLayout
