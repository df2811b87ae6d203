"""The rule-based planner: a shapes-world prompt -> one box per object, from the world's grammar.

``"a large red circle on the left and a small blue square in the top right"`` -> phrases
``["a large red circle", "a small blue square"]`` with boxes centred in the named 3x3 grid cells and sized
as the world sizes them (half-side 0.15 for large, 0.085 for small). Objects without a position take
free cells (left, right, centre, then the corners and edges).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from toyworld.vocab import POSITION_PHRASES, POSITIONS, SIZES
from toyworld.world import ParsedObject, cell_box, parse_phrase

from ..layout import DEFAULT_MAX_OVERLAP, BoxLayout, LayoutError

_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")
_POSITIONS = sorted(((phrase, name) for name, phrase in POSITION_PHRASES.items()), key=lambda t: -len(t[0]))
FREE_CELLS: tuple[int, ...] = (3, 5, 4, 0, 2, 6, 8, 1, 7)  # left, right, centre, corners, edges


@dataclass(frozen=True)
class PlannedObject:
    """One object of a planned prompt.

    Attributes:
        phrase: the object's words in the prompt without its position (``"a large red circle"``).
        text: the object's full words in the prompt (``"a large red circle on the left"``).
        parsed: its attributes by the world's grammar.
        cell: its 3x3 grid cell (row-major from the top left).
        box: normalised xyxy.
    """

    phrase: str
    text: str
    parsed: ParsedObject
    cell: int
    box: tuple[float, float, float, float]


class ShapesGrammarPlanner:
    """Plan boxes for shapes-world prompts.

    Args:
        scale: box half-side multiplier (1 keeps the world's object sizes).
        default_size: size used when the prompt names none (``"large"`` or ``"small"``).
        max_overlap: passed to :class:`BoxLayout`.
    """

    name = "shapes"

    def __init__(
        self, scale: float = 1.0, default_size: str = "large", max_overlap: float = DEFAULT_MAX_OVERLAP
    ) -> None:
        if default_size not in SIZES:
            raise ValueError(f"default_size must be one of {sorted(SIZES)}, got {default_size!r}")
        if not 0 < scale <= 1.1:
            raise ValueError(f"scale must be in (0, 1.1], got {scale}")
        self.scale = scale
        self.default_size = default_size
        self.max_overlap = max_overlap

    def objects(self, prompt: str) -> list[PlannedObject]:
        """The prompt's objects with their cells and boxes, in prompt order."""
        pieces = [p.strip() for p in _SPLIT.split(prompt.strip().rstrip(".")) if p.strip()]
        found: list[tuple[str, str, ParsedObject, int | None]] = []
        for piece in pieces:
            parsed = parse_phrase(piece)
            if parsed.shape is None and parsed.entity is None:
                continue
            phrase, cell = piece, None
            low = " " + piece.lower() + " "
            for words, name in _POSITIONS:
                at = low.find(" " + words + " ")
                if at >= 0:
                    cell = POSITIONS.index(name)
                    phrase = (piece[: max(at - 1, 0)] + " " + piece[at - 1 + len(words) + 1 :]).strip()
                    phrase = " ".join(phrase.split())
                    break
            found.append((phrase, piece, parsed, cell))
        if not found:
            raise LayoutError(
                f"the shapes planner found no object in {prompt!r}; it reads prompts such as "
                "'a large red circle on the left and a small blue square on the right'"
            )
        taken = [c for *_, c in found if c is not None]
        dup = sorted({POSITIONS[c] for c in taken if taken.count(c) > 1})
        if dup:
            raise LayoutError(
                f"two objects of {prompt!r} ask for the same place ({', '.join(dup)}); give each its own"
            )
        free = [c for c in FREE_CELLS if c not in taken]
        out = []
        for phrase, text, parsed, cell in found:
            if cell is None:
                if not free:
                    raise LayoutError(
                        f"{prompt!r} names more than 9 objects; the planner places at most one per grid cell"
                    )
                cell = free.pop(0)
            radius = SIZES[parsed.size or self.default_size] * self.scale
            box = tuple(float(v) for v in cell_box(cell, radius, None))
            out.append(PlannedObject(phrase=phrase, text=text, parsed=parsed, cell=cell, box=box))
        return out

    def plan(self, prompt: str, reserved: Sequence[tuple[float, float, float, float]] = ()) -> BoxLayout:
        """The :class:`BoxLayout` of ``prompt`` (phrases without their position words)."""
        objs = self.objects(prompt)
        layout = BoxLayout(
            phrases=[o.phrase for o in objs],
            boxes=[o.box for o in objs],
            max_overlap=self.max_overlap,
            reserved=list(reserved),
        )
        layout.check_prompt(prompt)
        return layout

    def region_prompts(self, prompt: str) -> list[str]:
        """Each object's full words (with its position), the region prompts of region fusion."""
        return [o.text for o in self.objects(prompt)]
