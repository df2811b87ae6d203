"""The GLIGEN recipe's defaults live in one place: the trainer takes them and the CLI's help quotes them."""

import argparse
import inspect
from dataclasses import fields

import pytest

from generators.layout.gligen_recipe import RECIPE


def test_trainer_defaults_are_the_recipe():
    from generators.layout.train_gligen import GligenTrainer

    params = inspect.signature(GligenTrainer.__init__).parameters
    for field in fields(RECIPE):
        if field.name == "eval_beta":  # None: by the fusers' kind, the recipe's value for the paper's fusers
            assert params[field.name].default is None
            continue
        assert params[field.name].default == getattr(RECIPE, field.name), field.name


def test_train_gligen_help_quotes_the_recipe(capsys):
    from generators.layout.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["layout", "train-gligen", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for quoted in (
        f"default {RECIPE.lr:g})",
        f"default {RECIPE.gate_lr:g})",
        f"default {RECIPE.batch_size}",
        f"default {RECIPE.position_free:g})",
        f"default {RECIPE.min_timestep})",
    ):
        assert quoted in text, quoted
