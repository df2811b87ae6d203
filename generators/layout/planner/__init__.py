"""Layout planners: prompt -> :class:`~generators.layout.layout.BoxLayout`.

A planner is any object with ``plan(prompt: str) -> BoxLayout``; :data:`PLANNERS` names the shipped
ones: ``shapes`` (rule-based, from the shapes-world grammar, offline) and ``llm`` (asks a text model for
JSON boxes; bring a completion function or a transformers text-generation model).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from workbench.registry import Registry

from ..layout import BoxLayout


@runtime_checkable
class LayoutPlanner(Protocol):
    def plan(self, prompt: str) -> BoxLayout: ...


PLANNERS: Registry = Registry("layout planner")

from .llm import LLMPlanner  # noqa: E402
from .shapes import PlannedObject, ShapesGrammarPlanner  # noqa: E402

PLANNERS.add("shapes", ShapesGrammarPlanner)
PLANNERS.add("llm", LLMPlanner)

__all__ = ["PLANNERS", "LLMPlanner", "LayoutPlanner", "PlannedObject", "ShapesGrammarPlanner"]
