"""Every registered optimiser: improves the objective, scores a population in one model call,
and resumes from its state exactly."""

from __future__ import annotations

import pytest
import torch

from attacks.masterprints import (
    OPTIMIZERS,
    BlackBoxScorer,
    MultiPromptObjective,
    build_optimizer,
    build_space,
)
from workbench.runtime import Runtime

from .tiny_models import PROMPTS

GRADIENT = {"adam": {"lr": 0.05}, "sgd": {"lr": 2.0}, "pgd": {"step": 4 / 255}}
BLACK_BOX = {"cma": {"popsize": 8}, "diagonal_cma": {"popsize": 8}, "one_plus_one": {"popsize": 8}}


def _config(name: str, space: str) -> dict:
    cfg = {"name": name, **GRADIENT.get(name, {}), **BLACK_BOX.get(name, {})}
    if name == "pgd" and space == "vae_latent":
        cfg.update(quantize=False, step=0.05)
    return cfg


def _space(name: str, vae):
    cfg = {"name": name, "param_size": 8} if name == "pixels" else {"name": name}
    return build_space(cfg, image_size=32, vae=vae, start_image=torch.full((3, 32, 32), 0.5))


def _objective(scorer, name):
    view = scorer if OPTIMIZERS.get(name).needs_gradients else BlackBoxScorer.from_scorer(scorer, PROMPTS)
    return MultiPromptObjective(view, PROMPTS)


def test_registry():
    assert OPTIMIZERS.names() == ["adam", "cma", "diagonal_cma", "one_plus_one", "pgd", "sgd"]
    with pytest.raises(KeyError, match="already registered"):
        OPTIMIZERS.register("cma")(object)
    with pytest.raises(KeyError, match="unknown optimizer 'adamw'; known optimizers: adam, cma"):
        OPTIMIZERS.get("adamw")


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_improves_the_loss(name, clip_scorer, vae):
    space = _space("pixels", vae)
    opt = build_optimizer(
        _config(name, "pixels"), space, _objective(clip_scorer, name), Runtime(seed=0, device="cpu")
    )
    first = opt.step()
    for _ in range(11):
        rec = opt.step()
    assert rec.best_loss < float(first.losses.min()) - 1e-4
    assert opt.evaluations == 12 * first.evaluations
    img = opt.best_image()
    assert img.shape == (1, 3, 32, 32) and 0 <= img.min() and img.max() <= 1


@pytest.mark.parametrize("space_name", ["pixels", "linf_ball", "vae_latent"])
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_resume_reproduces_an_uninterrupted_run(name, space_name, clip_scorer, vae):
    cfg = _config(name, space_name)

    def fresh():
        space = _space(space_name, vae)
        return build_optimizer(cfg, space, _objective(clip_scorer, name), Runtime(seed=3, device="cpu"))

    straight = fresh()
    for _ in range(4):
        straight.step()
    first = fresh()
    for _ in range(2):
        first.step()
    state = {k: v.clone() for k, v in first.state_dict().items()}
    assert all(isinstance(v, torch.Tensor) for v in state.values())  # safetensors-ready
    resumed = fresh()
    resumed.load_state_dict(state)
    assert resumed.steps == 2 and resumed.evaluations == first.evaluations
    for _ in range(2):
        resumed.step()
    assert resumed.best_loss == pytest.approx(straight.best_loss, abs=1e-6)
    assert torch.allclose(resumed.best_params, straight.best_params, atol=1e-6)


@pytest.mark.parametrize("name", ["cma", "diagonal_cma", "one_plus_one", "adam"])
def test_population_is_scored_in_one_model_call(name, clip_scorer, vae):
    calls = []
    original = clip_scorer.encode_image

    def counting(images):
        calls.append(images.shape[0])
        return original(images)

    space = _space("vae_latent", vae)
    cfg = {**_config(name, "vae_latent"), **({"population": 5} if name == "adam" else {})}
    opt = build_optimizer(cfg, space, _objective(clip_scorer, name), Runtime(seed=0, device="cpu"))
    clip_scorer.encode_image = counting
    try:
        opt.step()
        opt.step()
    finally:
        del clip_scorer.encode_image
    expected = 5 if name == "adam" else 8
    assert calls == [expected, expected]


@pytest.mark.parametrize("name", ["adam", "sgd", "pgd"])
def test_gradient_optimizers_refuse_black_box(name, clip_scorer, vae):
    obj = MultiPromptObjective(BlackBoxScorer.from_scorer(clip_scorer, PROMPTS), PROMPTS)
    with pytest.raises(ValueError, match="needs gradients but the objective is black-box"):
        build_optimizer({"name": name}, _space("pixels", vae), obj, Runtime(seed=0, device="cpu"))


def test_bad_settings_fail_at_build(clip_scorer, vae):
    obj = MultiPromptObjective(clip_scorer, PROMPTS)
    rt = Runtime(seed=0, device="cpu")
    with pytest.raises(ValueError, match="no pixel grid"):
        build_optimizer({"name": "pgd"}, _space("vae_latent", vae), obj, rt)
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        build_optimizer({"name": "cma", "popsize": 1}, _space("pixels", vae), obj, rt)
    with pytest.raises(ValueError, match="nesterov momentum needs momentum"):
        build_optimizer({"name": "sgd", "momentum": 0, "nesterov": True}, _space("pixels", vae), obj, rt)


def test_different_keys_start_differently(clip_scorer, vae):
    obj = MultiPromptObjective(clip_scorer, PROMPTS)
    rt = Runtime(seed=0, device="cpu")
    a = build_optimizer({"name": "adam", "key": "a"}, _space("pixels", vae), obj, rt)
    b = build_optimizer({"name": "adam", "key": "b"}, _space("pixels", vae), obj, rt)
    a2 = build_optimizer({"name": "adam", "key": "a"}, _space("pixels", vae), obj, rt)
    assert not torch.equal(a.params, b.params) and torch.equal(a.params, a2.params)
