"""The code path a GPU user runs: hub-shaped CLIP (ViT-B/32 config) and SD VAE configs, shrunk, with
random weights, at 224 px; one optimisation step of every optimiser in every space."""

from __future__ import annotations

import pytest
import torch

from attacks.masterprints import (
    OPTIMIZERS,
    BlackBoxScorer,
    CLIPScorer,
    MultiPromptObjective,
    SigLIPScorer,
    build_optimizer,
    build_space,
)
from workbench.runtime import Runtime

from .tiny_models import hub_shaped_clip, hub_shaped_vae

PROMPTS = ["a red circle", "a photo of a cat", "a blue car"]


@pytest.fixture(scope="module")
def hub():
    model, tok, processor = hub_shaped_clip()
    return CLIPScorer(model, tok, processor), hub_shaped_vae()


@pytest.fixture(scope="module")
def spaces(hub):
    _, vae = hub
    start = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    return {
        name: build_space({"name": name}, image_size=224, vae=vae, start_image=start)
        for name in ("vae_latent", "pixels", "linf_ball")
    }


def test_shapes_of_the_real_configs(hub, spaces):
    scorer, _ = hub
    assert scorer.image_size == 224 and scorer.max_length == 77
    assert spaces["vae_latent"].shape == (4, 28, 28)  # the paper's latent at 224 px
    assert spaces["pixels"].shape == (3, 224, 224)


@pytest.mark.parametrize("space_name", ["vae_latent", "pixels", "linf_ball"])
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_one_step(name, space_name, hub, spaces):
    scorer, _ = hub
    space = spaces[space_name]
    gradient = OPTIMIZERS.get(name).needs_gradients
    objective = MultiPromptObjective(
        scorer if gradient else BlackBoxScorer.from_scorer(scorer, PROMPTS), PROMPTS
    )
    cfg = {"name": name}
    if not gradient:
        cfg["popsize"] = 4
    if name == "pgd" and space_name == "vae_latent":
        cfg.update(quantize=False, step=0.05)
    if name == "cma" and space_name != "vae_latent":
        with pytest.raises(ValueError, match="168.8 GiB covariance matrix"):
            full = {**cfg, "separable_above": None}
            build_optimizer(full, space, objective, Runtime(seed=0, device="cpu"))
    opt = build_optimizer(cfg, space, objective, Runtime(seed=0, device="cpu"))
    rec = opt.step()
    assert rec.evaluations == (1 if gradient else 4) and torch.isfinite(rec.losses).all()
    image = opt.best_image()
    assert image.shape == (1, 3, 224, 224) and 0 <= image.min() and image.max() <= 1
    if name == "cma":  # SD's latent at 224 px (3,136) stays full; 150,528 pixels are separable
        assert opt.separable == (space_name != "vae_latent")


def test_sigmoid_scoring_of_the_real_config(hub):
    scorer, _ = hub
    siglip = SigLIPScorer(scorer.model, scorer.tokenizer, logit_scale=2.3, logit_bias=-5.0)
    x = torch.rand(2, 3, 256, 256, requires_grad=True)
    scores = siglip(x, siglip.encode_text(PROMPTS))
    assert scores.shape == (2, 3) and ((scores > 0) & (scores < 1)).all()
    scores.sum().backward()
    assert x.grad.abs().sum() > 0
