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
    assert "drawn by the VAE 'dummy' from a round trip" in capsys.readouterr().out
    score = lambda f: json.loads(f.read_text())["per_prompt"]["a red circle"]["master_score"]  # noqa: E731
    assert score(plain) != pytest.approx(score(tripped), abs=1e-6)
    fitted = _parse(
        [
            *argv,
            str(tmp_path / "fit.json"),
            "--through-vae",
            "dummy",
            "--fit-steps",
            "5",
            "--latent-size",
            "8",
        ]
    )
    assert fitted.func(fitted) == 0
    assert "from a latent fitted in 5 steps" in capsys.readouterr().out
    bad = _parse([*argv, str(tmp_path / "bad.json"), "--through-vae", "dummy", "--fit-steps", "-1"])
    assert bad.func(bad) == 2 and "steps must be >= 0" in capsys.readouterr().err


def test_a_fitted_latent_draws_the_image_closer_than_the_round_trip(vae):
    from attacks.masterprints.spaces.vae_latent import vae_latent_fit, vae_round_trip

    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    trip = vae_round_trip(vae, image)
    assert torch.allclose(vae_latent_fit(vae, image, steps=0), trip, atol=1e-5)  # 0 steps: the round trip
    fitted = vae_latent_fit(vae, image, steps=20, lr=0.1)
    mse = lambda x: ((x - image) ** 2).mean().item()  # noqa: E731
    assert fitted.shape == image.shape and 0 <= fitted.min() and fitted.max() <= 1
    assert mse(fitted) < mse(trip)
    larger = vae_latent_fit(vae, image, steps=2, latent_size=16)  # decoded larger, shrunk to 32 px
    assert larger.shape == image.shape


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
