"""Bad input gets a clear error: prompts, budgets, start images, configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attacks.masterprints import MAX_PROMPTS, BudgetConfig, load_prompts, load_start_image
from attacks.masterprints.config import AttackConfig


def test_prompts_from_list_and_file(tmp_path):
    assert load_prompts([" a red circle ", "a blue star"]) == ["a red circle", "a blue star"]
    f = tmp_path / "targets.txt"
    f.write_text("# targets\na red circle\n\n  a blue star  \n", encoding="utf-8")
    assert load_prompts(str(f)) == ["a red circle", "a blue star"]


@pytest.mark.parametrize(
    "value, message",
    [
        ([], "no prompts"),
        (["a red circle", "  "], r"attack.prompts\[1\] is an empty string"),
        (["a red circle", 3], "must be a string"),
        (["a red circle", "a red circle"], "repeats 1 prompt"),
        ([f"prompt {i}" for i in range(10_000)], f"10000 prompts, more than the limit of {MAX_PROMPTS}"),
        ("a red circle", "not an existing file"),
    ],
)
def test_bad_prompts(value, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_prompts(value)


def test_empty_prompt_file(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("# nothing here\n\n")
    with pytest.raises(ValueError, match="holds no prompts"):
        load_prompts(f)


@pytest.mark.parametrize(
    "budget, message",
    [
        ({"evaluations": 0}, "must be a positive number"),
        ({"seconds": 0}, "seconds must be positive"),
        ({}, "budget is empty"),
    ],
)
def test_bad_budget(budget, message):
    with pytest.raises(ValueError, match=message):
        BudgetConfig(**budget)


def test_attack_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="--set attack.budget.evaluations"):
        AttackConfig(prompts=["a red circle"])
    with pytest.raises(ValueError, match="no target prompts"):
        AttackConfig(prompts=[], budget={"evaluations": 10})
    with pytest.raises(ValueError, match="unknown attack.optimizer 'adamw'; known: adam, cma"):
        AttackConfig(prompts=["x"], budget={"evaluations": 10}, optimizer={"name": "adamw"})
    with pytest.raises(ValueError, match="extra"):
        AttackConfig(prompts=["x"], budget={"evaluations": 10}, optimizer={"name": "cma", "lr": 0.1})


def test_attack_config_round_trips_through_json():
    cfg = AttackConfig(
        prompts=["a red circle"],
        budget={"evaluations": 5},
        optimizer={"name": "cma", "popsize": 8},
        space={"name": "pixels", "param_size": 8},
    )
    again = AttackConfig.model_validate_json(cfg.model_dump_json())
    assert again == cfg
    assert again.optimizer.popsize == 8 and again.space.param_size == 8
    assert again.is_black_box and not AttackConfig(prompts=["x"], budget={"seconds": 1}).is_black_box


def test_start_image_accepts_rgb(tmp_path):
    arr = (np.arange(16 * 16 * 3) % 256).astype(np.uint8).reshape(16, 16, 3)
    path = tmp_path / "start.png"
    Image.fromarray(arr).save(path)
    x = load_start_image(path, 16)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert torch.allclose(x, torch.from_numpy(arr).permute(2, 0, 1).float() / 255)


@pytest.mark.parametrize(
    "source, message",
    [
        (Image.new("L", (16, 16)), "mode 'L'; convert it to RGB"),
        (Image.new("RGBA", (16, 16)), "mode 'RGBA'"),
        (Image.new("RGB", (24, 16)), "24x16 pixels but the search works at 16x16"),
        (torch.rand(1, 16, 16), r"\(3, H, W\)"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), "must be float in \\[0, 1\\]"),
        (torch.full((3, 16, 16), 2.0), "expected \\[0, 1\\]"),
        (np.zeros((16, 16, 3), dtype=np.float32), "must be uint8"),
        ("/no/such/image.png", "does not exist"),
    ],
)
def test_bad_start_image(source, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_start_image(source, 16)
