"""Experiment and demo discovery: missing modules are skipped, broken ones surface."""

from __future__ import annotations

import sys

import pytest

from apps import DEMOS, register_demo
from workbench.config import ExperimentConfig
from workbench.experiments import (
    EXPERIMENTS,
    get_experiment,
    import_existing,
    module_exists,
    register_experiment,
)


def test_builtin_experiments_are_registered():
    assert get_experiment("smoke").config.__name__ == "SmokeConfig"
    assert get_experiment("tour").config.__name__ == "TourConfig"
    with pytest.raises(KeyError, match="known experiments: .*smoke"):
        get_experiment("absent")


def test_missing_modules_are_skipped_and_broken_ones_raise(tmp_path, monkeypatch):
    pkg = tmp_path / "wbprobe"
    (pkg / "fine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "fine" / "__init__.py").write_text("")
    (pkg / "fine" / "experiment.py").write_text("LOADED = True\n")
    (pkg / "broken").mkdir()
    (pkg / "broken" / "__init__.py").write_text("")
    (pkg / "broken" / "experiment.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not module_exists("wbprobe.absent.experiment")
    assert not module_exists("no_such_top_package.experiment")
    assert import_existing(["wbprobe.fine.experiment", "wbprobe.absent.experiment"]) == [
        "wbprobe.fine.experiment"
    ]
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        import_existing(["wbprobe.*.experiment"])
    for name in [m for m in sys.modules if m.startswith("wbprobe")]:
        monkeypatch.delitem(sys.modules, name)


def test_registration_refuses_duplicates_and_bad_configs():
    class Cfg(ExperimentConfig):
        pass

    register_experiment("test-dup", config=Cfg)(lambda ctx, cfg: None)
    with pytest.raises(KeyError, match="already registered"):
        register_experiment("test-dup", config=Cfg)(lambda ctx, cfg: None)
    with pytest.raises(TypeError, match="ExperimentConfig subclass"):
        register_experiment("test-bad", config=dict)
    assert "test-dup" in EXPERIMENTS


def test_demo_names_must_be_url_safe():
    with pytest.raises(ValueError, match="URL"):
        register_demo("bad name/")
    register_demo("test-demo-ok", title="OK")(lambda: None)
    assert DEMOS.get("test-demo-ok").title == "OK"
