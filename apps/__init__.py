"""Gradio demos: one per module, plus the hub (``apps.hub``) that links them.

A module's demo registers a builder that returns a ``gr.Blocks``; building must be cheap (load models
lazily inside the handlers), because the hub builds every demo when it starts::

    from apps import register_demo, demo_output_dir

    @register_demo("watermarks", title="Watermark robustness", description="Embed, attack, detect.")
    def build():
        import gradio as gr
        with gr.Blocks() as demo:
            ...
        return demo

Demos write files only under :func:`demo_output_dir` (the hub serves nothing else).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.plugins import load_plugins
from workbench.registry import Registry

__all__ = [
    "DEMOS",
    "DemoSpec",
    "apps_home",
    "demo_output_dir",
    "load_demo_modules",
    "register_demo",
]


@dataclass(frozen=True)
class DemoSpec:
    """A registered demo: URL-safe name, title, one-line description and a builder returning ``gr.Blocks``."""

    name: str
    title: str
    description: str
    build: Callable[[], Any]


DEMOS: Registry[DemoSpec] = Registry("demo")


def register_demo(name: str, title: str | None = None, description: str = "") -> Callable:
    """Decorator registering ``build() -> gr.Blocks`` as demo ``name`` (letters, digits, ``-``, ``_``)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"demo name {name!r} must use letters, digits, '-' or '_' (it becomes a URL path)")

    def decorator(build: Callable[[], Any]) -> Callable[[], Any]:
        DEMOS.add(name, DemoSpec(name=name, title=title or name, description=description, build=build))
        return build

    return decorator


def load_demo_modules() -> list[str]:
    """Load every plugin (this package's registers its demos; others may add theirs); returns the
    plugins' names."""
    return load_plugins()


def apps_home() -> Path:
    """The folder the demos own (``$WORKBENCH_APP_DIR`` or ``~/.cache/workbench/apps``)."""
    home = Path(
        os.environ.get("WORKBENCH_APP_DIR", Path.home() / ".cache" / "workbench" / "apps")
    ).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def demo_output_dir(name: str) -> Path:
    """Where demo ``name`` writes its files (created on demand)."""
    folder = apps_home() / "outputs" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
