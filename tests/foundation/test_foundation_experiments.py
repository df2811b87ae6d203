"""Experiment and demo discovery through plugins: a plugin file registers, a broken one surfaces with
its name."""

from __future__ import annotations

import sys

import pytest

from apps import DEMOS, register_demo
from workbench.config import ExperimentConfig
from workbench.experiments import EXPERIMENTS, get_experiment, register_experiment
from workbench.plugins import ENV_VAR, PluginError, load_plugins, plugin_specs


def test_builtin_experiments_are_registered():
    assert get_experiment("smoke").config.__name__ == "SmokeConfig"
    assert get_experiment("tour").config.__name__ == "TourConfig"
    with pytest.raises(KeyError, match="known experiments: .*smoke"):
        get_experiment("absent")


def test_every_package_declares_one_plugin_and_each_loads():
    names = load_plugins()
    for package in ("workbench", "toyworld", "metrics", "attacks", "generators", "apps"):
        assert f"{package}.plugin" in names
    assert set(EXPERIMENTS.names()) >= {"smoke", "tour", "toy-eval", "layout-eval", "masterprints"}


def test_a_plugin_file_on_a_path_registers_and_a_broken_one_names_itself(tmp_path, monkeypatch):
    fine = tmp_path / "probe_plugin.py"
    fine.write_text(
        "from workbench.config import ExperimentConfig\n"
        "from workbench.experiments import register_experiment\n"
        "class ProbeConfig(ExperimentConfig):\n    pass\n"
        "@register_experiment('probe-from-file', config=ProbeConfig)\n"
        "def run(ctx, cfg):\n    pass\n"
    )
    monkeypatch.setenv(ENV_VAR, str(fine))
    assert str(fine) in plugin_specs()
    assert get_experiment("probe-from-file").config.__name__ == "ProbeConfig"
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.setenv(ENV_VAR, str(broken))
    with pytest.raises(PluginError, match="broken_plugin.py.*a_dependency_that_is_not_installed"):
        load_plugins()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.py"))
    with pytest.raises(PluginError, match="does not exist"):
        load_plugins()
    for name in [m for m in sys.modules if m.startswith("workbench_plugin_")]:
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


def test_every_declared_entry_resolves_to_what_its_module_registers():
    from apps import DEMOS
    from attacks.registries import IMAGE_ATTACKS, WATERMARKS
    from workbench.experiments_builtin.steps import TOUR_STEPS
    from workbench.generation import GENERATORS

    load_plugins()
    for registry in (EXPERIMENTS, DEMOS, TOUR_STEPS, GENERATORS, IMAGE_ATTACKS, WATERMARKS):
        for name in registry.names():
            assert registry.get(name) is not None, (registry.kind, name)


def test_the_cli_starts_without_torch():
    import subprocess

    code = "import sys; from workbench.cli import build_parser; build_parser(); print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'gradio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
    assert "torchvision" not in out.stderr
