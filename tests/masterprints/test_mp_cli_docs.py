"""The ``workbench masterprints`` sub-commands, and the docstring examples of the package."""

from __future__ import annotations

import argparse
import doctest
import importlib
import json

import pytest
import torch

from attacks.masterprints.cli import register
from workbench.io import save_image


def _parse(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_list(capsys):
    args = _parse(["masterprints", "list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "cma  [black-box]" in out and "adam  [gradient]" in out and "vae_latent" in out


def test_evaluate_an_image(tmp_path, capsys):
    save_image(tmp_path / "master.png", torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)))
    (tmp_path / "targets.txt").write_text("a red circle\na blue star\n")
    args = _parse(
        [
            "masterprints",
            "evaluate",
            str(tmp_path / "master.png"),
            "--prompts",
            str(tmp_path / "targets.txt"),
            "--clip",
            "dummy",
            "--real-per-prompt",
            "4",
            "--device",
            "cpu",
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    assert args.func(args) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert set(out["per_prompt"]) == {"a red circle", "a blue star"} and 0 <= out["fooling_accuracy"] <= 1
    assert "fooling accuracy" in capsys.readouterr().out


def test_evaluate_through_a_vae_scores_the_round_trip(tmp_path, capsys, vae):
    from attacks.masterprints.spaces.vae_latent import vae_round_trip

    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    trip = vae_round_trip(vae, image)
    assert trip.shape == image.shape and 0 <= trip.min() and trip.max() <= 1
    assert not torch.allclose(trip, image, atol=0.05)  # a random-weight VAE does not hold noise
    save_image(tmp_path / "master.png", image[0])
    argv = ["masterprints", "evaluate", str(tmp_path / "master.png"), "--prompts", "a red circle"]
    argv += ["--clip", "dummy", "--real-per-prompt", "4", "--device", "cpu", "--json"]
    plain, tripped = tmp_path / "plain.json", tmp_path / "trip.json"
    for args in (_parse([*argv, str(plain)]), _parse([*argv, str(tripped), "--through-vae", "dummy"])):
        assert args.func(args) == 0
    assert "round trip through the VAE 'dummy'" in capsys.readouterr().out
    score = lambda f: json.loads(f.read_text())["per_prompt"]["a red circle"]["master_score"]  # noqa: E731
    assert score(plain) != pytest.approx(score(tripped), abs=1e-6)


def test_evaluate_bad_input(tmp_path, capsys):
    save_image(tmp_path / "wide.png", torch.rand(3, 16, 32))
    for image in (tmp_path / "missing.png", tmp_path / "wide.png"):
        args = _parse(
            ["masterprints", "evaluate", str(image), "--prompts", "a red circle", "--clip", "dummy"]
        )
        assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "32x16 pixels" in err


@pytest.mark.parametrize(
    "name",
    [
        "attacks.masterprints",
        "attacks.masterprints.objective",
        "attacks.masterprints.scorers.blackbox",
        "attacks.masterprints.toy_images",
    ],
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
