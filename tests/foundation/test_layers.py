"""The package layering holds (``tools/check_layers.py``): no upward import, no import circle; and the
checker itself catches both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_layers.py"


def _tool():
    spec = importlib.util.spec_from_file_location("check_layers", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tree_has_no_upward_import_and_no_circle(capsys):
    tool = _tool()
    assert tool.main([]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "0 layer breaches, 0 circles" in out


def test_the_checker_finds_an_upward_edge_and_a_circle():
    tool = _tool()
    edges = [
        ("workbench.cli", "apps.hub", 3, True),
        ("generators.a", "attacks.b", 5, False),
        ("metrics.x", "metrics.y", 1, False),
        ("metrics.y", "metrics.z", 1, True),
        ("metrics.z", "metrics.x", 1, False),
    ]
    breaches = tool.layer_breaches(edges)
    assert (
        len(breaches) == 2 and "workbench -> apps" in breaches[0] and "generators -> attacks" in breaches[1]
    )
    assert tool.circles(edges) == [["metrics.x", "metrics.y", "metrics.z"]]


def test_the_toy_world_is_its_own_package_and_the_runtime_never_imports_it():
    tool = _tool()
    edges = tool.imports(tool.modules())
    assert not [e for e in edges if e[0].startswith("workbench") and e[1].startswith("toyworld")]
    assert any(e[0].startswith("toyworld") and e[1].startswith("workbench") for e in edges)
