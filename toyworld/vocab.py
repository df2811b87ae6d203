"""The closed vocabulary of the shapes world: shapes, colours, sizes, textures, positions, entities."""

from __future__ import annotations

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond")
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.75, 0.15),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.90, 0.10),
    "purple": (0.60, 0.15, 0.80),
    "orange": (1.00, 0.55, 0.05),
    "white": (0.95, 0.95, 0.95),
    "cyan": (0.10, 0.85, 0.90),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
# A scene's background when none is drawn (drawn ones are greys around it: 0.06-0.16, tinted by +-0.05).
BACKGROUND: tuple[float, float, float] = (0.12, 0.12, 0.12)
SIZES: dict[str, float] = {"small": 0.085, "large": 0.15}  # radius as a fraction of the image side
SIZE_NAMES: tuple[str, ...] = tuple(SIZES)
TEXTURES: tuple[str, ...] = ("plain", "striped", "dotted")
# 3x3 grid cells, row-major from the top left; the phrase used in captions for each.
POSITIONS: tuple[str, ...] = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
POSITION_PHRASES: dict[str, str] = {
    "top left": "in the top left",
    "top": "at the top",
    "top right": "in the top right",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "in the bottom left",
    "bottom": "at the bottom",
    "bottom right": "in the bottom right",
}

# Invented named entities: each a fixed, distinctive two-part design (see entities.py).
ENTITY_NAMES: tuple[str, ...] = (
    "zorvik",
    "plimble",
    "quaddle",
    "vextor",
    "morble",
    "trindle",
    "glimmox",
    "snorvel",
    "brackle",
    "fenwib",
    "jubbert",
    "krellin",
    "lopsom",
    "mirtle",
    "nubbix",
    "orrow",
    "pazzle",
    "quint",
    "rubbet",
    "sprocko",
    "tazzle",
    "umbrik",
    "vorpin",
    "wuzzle",
    "xandro",
    "yibble",
    "zantho",
    "blorft",
    "crindle",
    "dworp",
    "eggrin",
    "flumox",
)
ENTITY_KINDS: tuple[str, ...] = ("emblem",)

FILLER_WORDS: tuple[str, ...] = (
    "a",
    "an",
    "the",
    "and",
    "on",
    "in",
    "at",
    "of",
    "image",
    "picture",
    "photo",
    "with",
    "there",
    "is",
    "are",
    "one",
    "two",
    "three",
    "four",
    "objects",
    "object",
    "shape",
    "shapes",
    "background",
    "left",
    "right",
    "top",
    "bottom",
    "center",
    "middle",
    "above",
    "below",
    "next",
    "to",
)


def all_words() -> list[str]:
    """Every word the toy tokenizers know, in a fixed order."""
    words: list[str] = []
    for group in (
        FILLER_WORDS,
        SHAPES,
        COLOR_NAMES,
        SIZE_NAMES,
        TEXTURES,
        ENTITY_NAMES,
        ENTITY_KINDS,
        tuple(w for p in POSITION_PHRASES.values() for w in p.split()),
    ):
        for w in group:
            if w not in words:
                words.append(w)
    return words
