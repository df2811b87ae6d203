"""The multi-prompt objective: min / mean / soft-min, prompt masks, text embedded once."""

from __future__ import annotations

import pytest
import torch

from attacks.masterprints import MultiPromptObjective, ObjectiveConfig, aggregate

from .tiny_models import PROMPTS


def test_aggregations():
    s = torch.tensor([[0.1, 0.5, 0.3], [0.4, 0.2, 0.6]])
    assert torch.allclose(aggregate(s, "min"), torch.tensor([0.1, 0.2]))
    assert torch.allclose(aggregate(s, "mean"), s.mean(dim=1))
    soft = aggregate(s, "softmin", temperature=0.05)
    assert (soft <= aggregate(s, "min") + 1e-6).all()  # a soft minimum lies below the minimum
    assert torch.allclose(aggregate(s, "softmin", temperature=1e-4), aggregate(s, "min"), atol=1e-3)
    assert torch.allclose(
        aggregate(s, "softmin", temperature=100.0) + 100 * torch.log(torch.tensor(3.0)),
        s.mean(dim=1),
        atol=1e-3,
    )


def test_prompt_mask_selects_each_images_targets():
    s = torch.tensor([[0.1, 0.5, 0.3], [0.4, 0.2, 0.6]])
    mask = torch.tensor([[False, True, True], [True, False, True]])
    assert torch.allclose(aggregate(s, "min", mask=mask), torch.tensor([0.3, 0.4]))
    assert torch.allclose(aggregate(s, "mean", mask=mask), torch.tensor([0.4, 0.5]))
    with pytest.raises(ValueError, match="at least one target"):
        aggregate(s, "min", mask=torch.zeros_like(mask))


def test_loss_is_negated_min_and_text_is_embedded_once(clip_scorer):
    calls = []
    original = clip_scorer.encode_text

    def counting(prompts):
        calls.append(list(prompts))
        return original(prompts)

    clip_scorer.encode_text = counting
    try:
        obj = MultiPromptObjective(clip_scorer, PROMPTS)
        x = torch.rand(3, 3, 32, 32)
        for _ in range(3):
            loss = obj.loss(x)
    finally:
        del clip_scorer.encode_text
    assert calls == [PROMPTS]
    scores = clip_scorer(x, clip_scorer.encode_text(PROMPTS))
    assert torch.allclose(loss, -scores.min(dim=1).values, atol=1e-5)
    assert obj.evaluations == 9


def test_softmin_objective_has_gradient_on_every_prompt(clip_scorer):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    obj = MultiPromptObjective(clip_scorer, PROMPTS, ObjectiveConfig(aggregation="softmin", temperature=1.0))
    obj.loss(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_objective_needs_prompts(clip_scorer):
    with pytest.raises(ValueError, match="at least one target prompt"):
        MultiPromptObjective(clip_scorer, [])
