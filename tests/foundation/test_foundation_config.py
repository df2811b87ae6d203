"""Typed configs: files, overrides, validation errors that name the field, round trips."""

from __future__ import annotations

import pytest
import yaml

from workbench.config import (
    ConfigError,
    apply_overrides,
    dump_config,
    load_config,
    parse_override,
    validate_config,
)

SMOKE = {"experiment": "smoke", "seed": 3, "generate": {"prompts": ["a red circle"], "images_per_prompt": 1}}


def write(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_yaml_and_toml_load_to_the_same_config(tmp_path):
    y = load_config(write(tmp_path, SMOKE))
    toml = tmp_path / "cfg.toml"
    toml.write_text(
        'experiment = "smoke"\nseed = 3\n[generate]\nprompts = ["a red circle"]\nimages_per_prompt = 1\n'
    )
    t = load_config(toml)
    assert type(y).__name__ == "SmokeConfig"
    assert dump_config(y) == dump_config(t)
    assert y.generate.images_per_prompt == 1 and y.seed == 3


def test_overrides_parse_yaml_values_and_nest(tmp_path):
    cfg = load_config(
        write(tmp_path, SMOKE),
        ["generate.num_inference_steps=7", "generate.prompts=[a, b]", "runtime.precision=bf16", "name=x y"],
    )
    assert cfg.generate.num_inference_steps == 7
    assert cfg.generate.prompts == ["a", "b"]
    assert cfg.runtime.precision == "bf16"
    assert cfg.name == "x y"
    assert parse_override("a.b=null") == (["a", "b"], None)
    assert apply_overrides({"p": ["x", "y"]}, ["p.1=z"]) == {"p": ["x", "z"]}


@pytest.mark.parametrize("bad", ["noequals", "a..b=1", "=3", "generate.prompts.9=x"])
def test_malformed_override_is_a_config_error(tmp_path, bad):
    with pytest.raises(ConfigError, match="override"):
        load_config(write(tmp_path, SMOKE), [bad])


def test_unknown_field_names_the_field_and_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, SMOKE), ["generate.stepz=3"])
    message = str(err.value)
    assert "generate.stepz" in message
    assert "num_inference_steps" in message and "images_per_prompt" in message


def test_wrong_value_names_the_field_and_the_allowed_values(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, SMOKE), ["runtime.precision=fp8"])
    message = str(err.value)
    assert "runtime.precision" in message
    assert "'fp32'" in message and "'bf16'" in message and "fp8" in message

    with pytest.raises(ConfigError, match=r"generate\.image_size.*multiple of 8"):
        load_config(write(tmp_path, SMOKE), ["generate.image_size=30"])
    with pytest.raises(ConfigError, match=r"generate\.images_per_prompt"):
        load_config(write(tmp_path, SMOKE), ["generate.images_per_prompt=many"])


def test_unknown_experiment_lists_the_registered_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"experiment: unknown experiment 'nope'.*smoke"):
        load_config(write(tmp_path, {"experiment": "nope"}))
    with pytest.raises(ConfigError, match="experiment: missing"):
        load_config(write(tmp_path, {"seed": 1}))


def test_dump_round_trips_through_yaml(tmp_path):
    cfg = load_config(write(tmp_path, SMOKE), ["generate.guidance_scale=2.5"])
    again = validate_config(yaml.safe_load(yaml.safe_dump(dump_config(cfg))))
    assert again == cfg


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "cfg.ini").write_text("x")
    with pytest.raises(ConfigError, match="unsupported extension"):
        load_config(tmp_path / "cfg.ini")
