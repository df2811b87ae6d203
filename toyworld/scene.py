"""Scene descriptions of the shapes world (no pixels here: see render.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from .entities import EntityDesign, entity_design
from .vocab import BACKGROUND, COLOR_NAMES, POSITION_PHRASES, POSITIONS, SHAPES, SIZE_NAMES, TEXTURES


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene.

    ``shape`` is one of :data:`SHAPES`; an emblem has ``entity`` naming a named entity, or ``design`` (an
    :class:`~toyworld.entities.EntityDesign`) for an anonymous one, captioned ``"an emblem"``.
    ``box`` is normalised ``(x0, y0, x1, y1)`` in [0, 1], image coordinates (y down).
    """

    shape: str
    color: str
    size: str = "large"
    texture: str = "plain"
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    entity: str | None = None
    design: EntityDesign | None = None

    @property
    def emblem_design(self) -> EntityDesign | None:
        """The emblem's design (the named entity's, or the anonymous ``design``); ``None`` for a plain shape."""
        if self.design is not None:
            return self.design
        return entity_design(self.entity) if self.entity is not None else None

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def position(self) -> str:
        """The 3x3 grid cell of the box centre, as a :data:`POSITIONS` name."""
        cx, cy = self.center
        col = min(int(cx * 3), 2)
        row = min(int(cy * 3), 2)
        return POSITIONS[row * 3 + col]

    def phrase(self, with_position: bool = True) -> str:
        """The caption phrase: ``"a large striped red circle on the left"``."""
        if self.entity is not None:
            words = ["a", self.entity, "emblem"]
        elif self.design is not None:
            words = ["an", "emblem"]
        else:
            words = ["a", self.size]
            if self.texture != "plain":
                words.append(self.texture)
            words += [self.color, self.shape]
        if with_position:
            words.append(POSITION_PHRASES[self.position])
        return " ".join(words)

    def class_phrase(self, with_position: bool = True) -> str:
        """The phrase without what only an image of the object shows, as a user names their own object by
        its class (``"a dog"``): a plain object's size and shape (``"a large circle on the left"``), an
        emblem as ``"an emblem"``."""
        words = ["an", "emblem"] if self.emblem_design is not None else ["a", self.size, self.shape]
        if with_position:
            words.append(POSITION_PHRASES[self.position])
        return " ".join(words)

    def validate(self) -> None:
        if self.emblem_design is None:
            if self.shape not in SHAPES:
                raise ValueError(f"unknown shape {self.shape!r}; known: {', '.join(SHAPES)}")
            if self.color not in COLOR_NAMES:
                raise ValueError(f"unknown colour {self.color!r}; known: {', '.join(COLOR_NAMES)}")
            if self.size not in SIZE_NAMES:
                raise ValueError(f"unknown size {self.size!r}; known: {', '.join(SIZE_NAMES)}")
            if self.texture not in TEXTURES:
                raise ValueError(f"unknown texture {self.texture!r}; known: {', '.join(TEXTURES)}")
        x0, y0, x1, y1 = self.box
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(
                f"box {self.box} must be normalised xyxy with 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1"
            )


@dataclass(frozen=True)
class Scene:
    """A scene: objects on a background, with its caption."""

    objects: tuple[ObjectSpec, ...]
    background: tuple[float, float, float] = BACKGROUND
    seed: int = 0
    extras: dict = field(default_factory=dict, compare=False)

    def caption(self, with_position: bool = True, words: Literal["full", "class"] = "full") -> str:
        """``"a large red circle on the left and a small striped blue square on the right"``; with
        ``words="class"`` each object by its class only (:meth:`ObjectSpec.class_phrase`)."""
        phrases = [
            o.phrase(with_position) if words == "full" else o.class_phrase(with_position)
            for o in self.objects
        ]
        if len(phrases) == 1:
            return phrases[0]
        return ", ".join(phrases[:-1]) + " and " + phrases[-1]

    @property
    def boxes(self) -> list[tuple[float, float, float, float]]:
        return [o.box for o in self.objects]

    def to_dict(self) -> dict:
        return {
            "objects": [asdict(o) for o in self.objects],
            "background": list(self.background),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        objs = tuple(
            ObjectSpec(
                **{
                    **o,
                    "box": tuple(o["box"]),
                    "design": EntityDesign(**o["design"]) if o.get("design") else None,
                }
            )
            for o in d["objects"]
        )
        return cls(objects=objs, background=tuple(d.get("background", BACKGROUND)), seed=d.get("seed", 0))
