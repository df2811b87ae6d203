"""Target prompts: a list, or the path of a text file with one prompt per line, validated once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: More prompts than this in one mining run is refused: the minimum over thousands of prompts
#: hardly moves under any optimiser, and the text embeddings alone would dominate memory.
MAX_PROMPTS = 1024


def load_prompts(
    value: str | Path | Sequence[str], max_prompts: int = MAX_PROMPTS, what: str = "attack.prompts"
) -> list[str]:
    """Read and validate target prompts.

    Args:
        value: a list of prompts, or the path of a UTF-8 text file with one prompt per line (blank lines
            and lines starting with ``#`` are skipped).
        max_prompts: the largest number of prompts accepted.
        what: the name of the setting, used in error messages.

    Returns:
        The prompts, stripped of surrounding whitespace, in their given order.

    Raises:
        ValueError: no prompts, too many prompts, an empty or non-string prompt, or duplicates.
        FileNotFoundError: ``value`` names a file that does not exist.
    """
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{what} is the string {str(value)!r}, which is not an existing file; give a list of prompts "
                f"(e.g. {what}=['a red circle','a blue star']) or the path of a text file with one prompt per line"
            )
        lines = path.read_text(encoding="utf-8").splitlines()
        prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        source = f"{what} (file {path})"
    else:
        if not isinstance(value, Sequence):
            raise ValueError(f"{what} must be a list of strings or a file path, got {type(value).__name__}")
        prompts = []
        for i, p in enumerate(value):
            if not isinstance(p, str):
                raise ValueError(f"{what}[{i}] is {type(p).__name__} {p!r}; every prompt must be a string")
            if not p.strip():
                raise ValueError(f"{what}[{i}] is an empty string; remove it or write the prompt")
            prompts.append(p.strip())
        source = what
    if not prompts:
        raise ValueError(f"{source} holds no prompts; give at least one target prompt")
    if len(prompts) > max_prompts:
        raise ValueError(
            f"{source} holds {len(prompts)} prompts, more than the limit of {max_prompts}; mine several images on "
            f"subsets of at most {max_prompts} prompts (or raise max_prompts if you really mean it)"
        )
    seen: set[str] = set()
    dupes = sorted({p for p in prompts if p in seen or seen.add(p)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(
            f"{source} repeats {len(dupes)} prompt(s): {dupes[:5]}; each target prompt must appear once"
        )
    return prompts
