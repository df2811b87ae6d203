"""A planner that asks a language model for the layout, as JSON (LayoutGPT / LMD style).

Bring any completion function ``complete(text) -> text`` (an API client, a local model); or build one
from a transformers text-generation model with :meth:`LLMPlanner.from_transformers`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..layout import DEFAULT_MAX_OVERLAP, BoxLayout, LayoutError

TEMPLATE = """You place objects in an image for a text-to-image model.
Return only a JSON list, one item per object named in the caption, each with "phrase" (the object's
exact words from the caption, without position words) and "box" ([x0, y0, x1, y1], fractions of the
image width and height, x to the right, y down, 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1).
Caption: {prompt}
JSON:"""


class LLMPlanner:
    """Plan a layout by asking a language model.

    Args:
        complete: ``complete(instruction) -> reply``; the reply must contain a JSON list of
            ``{"phrase": ..., "box": [x0, y0, x1, y1]}`` (normalised xyxy).
        template: the instruction, with ``{prompt}`` where the caption goes.
        max_overlap: passed to :class:`BoxLayout`.
    """

    name = "llm"

    def __init__(
        self,
        complete: Callable[[str], str],
        template: str = TEMPLATE,
        max_overlap: float = DEFAULT_MAX_OVERLAP,
    ) -> None:
        if "{prompt}" not in template:
            raise ValueError("the template must contain '{prompt}'")
        self.complete = complete
        self.template = template
        self.max_overlap = max_overlap

    def plan(self, prompt: str) -> BoxLayout:
        reply = self.complete(self.template.format(prompt=prompt))
        items = _parse_reply(reply)
        layout = BoxLayout(
            phrases=[str(it.get("phrase", "")) for it in items],
            boxes=[it.get("box") for it in items],
            max_overlap=self.max_overlap,
        )
        layout.check_prompt(prompt)
        return layout

    @classmethod
    def from_transformers(cls, model: str, max_new_tokens: int = 256, **kwargs: Any) -> LLMPlanner:
        """A planner over a transformers text-generation model (hub id or folder; greedy decoding)."""
        from transformers import pipeline

        generate = pipeline("text-generation", model=model)

        def complete(text: str) -> str:
            out = generate(text, max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)
            return out[0]["generated_text"]

        return cls(complete, **kwargs)


def _parse_reply(reply: str) -> list[dict]:
    match = re.search(r"\[.*\]", reply, flags=re.S)
    if match is None:
        raise LayoutError(f"the planner's reply holds no JSON list: {reply[:200]!r}")
    try:
        items = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise LayoutError(f"the planner's reply is not valid JSON ({exc}): {match.group(0)[:200]!r}") from exc
    if not isinstance(items, list) or not all(isinstance(it, dict) for it in items):
        raise LayoutError(
            f"the planner's reply must be a list of objects with 'phrase' and 'box', got {items!r}"[:300]
        )
    return items
