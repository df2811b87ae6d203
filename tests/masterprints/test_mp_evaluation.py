"""Fooling accuracy, held-out prompts, zero-shot accuracy, and the toy world's real images."""

from __future__ import annotations

import pytest
import torch

from attacks.masterprints import RealImageBank, evaluate_fooling, related_prompts, zero_shot_accuracy
from attacks.masterprints.toy_images import ToyWorldImages, toy_class_prompts

from .tiny_models import PROMPTS


def test_evaluate_fooling_against_a_manual_computation(clip_scorer):
    gen = torch.Generator().manual_seed(0)
    reals = {p: torch.rand(6, 3, 32, 32, generator=gen) for p in PROMPTS}
    master = torch.rand(1, 3, 32, 32, generator=gen)
    report = evaluate_fooling(clip_scorer, master, PROMPTS, reals.__getitem__)
    text = clip_scorer.encode_text(PROMPTS)
    with torch.no_grad():
        m = clip_scorer(master, text)[0]
        for j, p in enumerate(PROMPTS):
            r = clip_scorer(reals[p], text)[:, j]
            row = report.per_prompt[j]
            assert row.prompt == p and row.n_real == 6
            assert row.master_score == pytest.approx(float(m[j]), abs=1e-5)
            assert row.best_real_score == pytest.approx(float(r.max()), abs=1e-5)
            assert row.fooling_accuracy == pytest.approx(float((r < m[j]).double().mean()))
            assert row.rank == 1 + int((r >= m[j]).sum()) and row.outranks == bool((r < m[j]).all())
    assert report.fooling_accuracy == pytest.approx(sum(r.fooling_accuracy for r in report.per_prompt) / 4)
    assert report.outrank_fraction == sum(r.master_score > r.best_real_score for r in report.per_prompt) / 4
    metrics = report.to_metrics()
    assert set(metrics["per_prompt"]) == set(PROMPTS)
    assert set(metrics["per_prompt"]["a red circle"]) == {
        "master_score",
        "best_real_score",
        "fooling_accuracy",
    }


def test_real_image_bank_embeds_each_class_once(clip_scorer):
    calls = []

    def real(prompt):
        calls.append(prompt)
        return torch.rand(3, 3, 32, 32)

    bank = RealImageBank(clip_scorer, real)
    for _ in range(2):
        evaluate_fooling(clip_scorer, torch.rand(1, 3, 32, 32), PROMPTS[:2], bank)
    assert calls == PROMPTS[:2]
    with pytest.raises(ValueError, match="another scorer"):
        evaluate_fooling(torch.nn.Identity(), torch.rand(1, 3, 32, 32), PROMPTS[:2], bank)  # type: ignore[arg-type]


def test_related_prompts():
    held = related_prompts(
        ["a red circle", "an orange star", "a large red circle"], ["a large {}", "a photo of a {}"]
    )
    assert held["a photo of a red circle"] == "a red circle"
    assert held["a large orange star"] == "an orange star"  # the article is dropped before formatting
    assert "a large red circle" not in held  # already a target
    assert len(held) == 5
    with pytest.raises(ValueError, match="needs a"):
        related_prompts(["a red circle"], ["no placeholder"])


def test_toy_images_show_the_prompt():
    from toyworld.world import parse_caption

    toy = ToyWorldImages(size=32, per_prompt=5, distractors=(0, 2))
    for prompt in ["a red circle", "a small striped blue star on the left", "a large green square"]:
        wanted = parse_caption(prompt)[0]
        for scene in toy.scenes(prompt):
            got = parse_caption(scene.caption())
            assert any(
                o.shape == wanted.shape
                and o.color == wanted.color
                and (wanted.size is None or o.size == wanted.size)
                and (wanted.position is None or o.position == wanted.position)
                and o.texture == wanted.texture
                for o in got
            ), (prompt, scene.caption())
    x = toy("a red circle")
    assert x.shape == (5, 3, 32, 32) and torch.equal(
        x, ToyWorldImages(size=32, per_prompt=5, distractors=(0, 2))("a red circle")
    )
    assert not torch.equal(
        x, ToyWorldImages(size=32, per_prompt=5, split="val", distractors=(0, 2))("a red circle")
    )
    with pytest.raises(ValueError, match="cannot show"):
        toy("a photo of nothing")
    assert len(toy_class_prompts()) == 48


def test_zero_shot_accuracy(clip_scorer):
    toy = ToyWorldImages(size=32, per_prompt=3)
    images, labels = toy.labelled(PROMPTS)
    acc = zero_shot_accuracy(clip_scorer, images, labels, PROMPTS)
    text = clip_scorer.encode_text(PROMPTS)
    with torch.no_grad():
        manual = (clip_scorer(images, text).argmax(1) == labels).double().mean()
    assert acc == pytest.approx(float(manual))
    with pytest.raises(ValueError, match="one label per image"):
        zero_shot_accuracy(clip_scorer, images, labels[:-1], PROMPTS)


class _FixedText(torch.nn.Module):
    """A scorer whose prompts have fixed unit text embeddings (images are not needed for the bound)."""

    score_kind = "cosine"

    def __init__(self, text: torch.Tensor) -> None:
        super().__init__()
        self.text = torch.nn.functional.normalize(text, dim=1)

    def encode_text(self, prompts):
        return self.text[: len(prompts)]

    def similarity(self, image_emb, text_emb):
        return image_emb @ text_emb.T


def test_embedding_bound_sees_the_modality_gap():
    from attacks.masterprints.evaluation import embedding_bound

    gen = torch.Generator().manual_seed(0)
    centre = torch.zeros(16)
    centre[0] = 1.0
    narrow = centre + 0.3 * torch.randn(
        5, 16, generator=gen
    )  # a narrow text cone: the centre is close to all
    bound = embedding_bound(_FixedText(narrow), ["p"] * 5, best_real=torch.full((5,), 0.3))
    assert bound.margin > 0 and bound.outrank_fraction == 1.0
    assert (bound.scores > 0.3).all()
    spread = torch.eye(16)[:5]  # orthogonal captions: no vector is within cos 0.8 of all of them
    bound = embedding_bound(_FixedText(spread), ["p"] * 5, best_real=torch.full((5,), 0.8))
    assert bound.margin < 0 and bound.outrank_fraction <= 0.2
    assert bound.scores.max() <= 1.0
