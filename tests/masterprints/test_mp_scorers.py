"""Scorers: CLIP's preprocessing inside a differentiable module, SigLIP scores, score-only access."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import CLIPModel

from attacks.masterprints import BlackBoxScorer, CLIPScorer, MultiPromptObjective, SigLIPScorer
from attacks.masterprints.scorers import ClipPreprocess
from toyworld.tokenizer import build_clip_tokenizer
from toyworld.train.clip import clip_config

from .tiny_models import PROMPTS, tiny_clip, tiny_siglip


def _smooth(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([xx, yy, xx * yy])  # (3, h, w)


@pytest.mark.parametrize("hw", [(48, 64), (64, 48), (32, 32), (20, 30)])
def test_preprocess_matches_clip_image_processor(hw):
    from workbench.dummy import dummy_clip_processor

    processor = dummy_clip_processor(image_size=32).image_processor
    pre = ClipPreprocess.from_image_processor(processor, default_size=224)
    assert (pre.image_size, pre.crop, pre.interpolation) == (32, True, "bicubic")
    img = Image.fromarray((_smooth(*hw).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    ref = processor(images=img, return_tensors="pt")["pixel_values"]
    ours = pre(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255)
    assert ours.shape == ref.shape == (1, 3, 32, 32)
    assert (ours - ref).abs().max() < 0.05  # PIL rounds to uint8 after resizing; we do not


def test_clip_scorer_is_differentiable_frozen_and_in_eval(clip_scorer):
    assert not clip_scorer.model.training
    clip_scorer.train()  # asking for train mode is ignored
    assert not clip_scorer.model.training and not clip_scorer.training
    assert all(not p.requires_grad for p in clip_scorer.parameters())
    text = clip_scorer.encode_text(PROMPTS)
    assert text.shape == (4, 16) and torch.allclose(text.norm(dim=1), torch.ones(4), atol=1e-5)
    x = torch.rand(2, 3, 40, 40, requires_grad=True)
    scores = clip_scorer(x, text)
    assert scores.shape == (2, 4) and scores.abs().max() <= 1 + 1e-5
    scores.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_clip_scorer_matches_the_model_on_processed_pixels(clip_scorer, tokenizer):
    x = torch.rand(3, 3, 32, 32)
    model = clip_scorer.model
    enc = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            pixel_values=clip_scorer.preprocess(x),
        )
    expected = out.logits_per_image / model.logit_scale.exp()  # cosine similarities
    assert torch.allclose(clip_scorer(x, clip_scorer.encode_text(PROMPTS)), expected, atol=1e-5)


def test_clip_scorer_refuses_an_empty_tokenizer():
    class Empty:
        def __len__(self):
            return 2

    with pytest.raises(ValueError, match="only 2 tokens"):
        CLIPScorer(tiny_clip(), Empty())


def test_siglip_scorer_on_a_siglip_model(tokenizer):
    model = tiny_siglip()
    with torch.no_grad():
        model.logit_scale.fill_(2.0)
        model.logit_bias.fill_(-1.0)
    scorer = SigLIPScorer(model, tokenizer)
    assert scorer.score_kind == "sigmoid" and not scorer.preprocess.crop
    text = scorer.encode_text(PROMPTS)
    img = scorer.encode_image(torch.rand(2, 3, 32, 32))
    scores = scorer.similarity(img, text)
    assert torch.allclose(scores, torch.sigmoid(img @ text.T * np.exp(2.0) - 1.0))
    assert ((scores > 0) & (scores < 1)).all()
    # text is padded to the maximum length, as SigLIP was trained
    assert (
        scorer.tokenizer(["a red circle"], padding=scorer._padding, max_length=16, return_tensors="pt")[
            "input_ids"
        ].shape[1]
        == 16
    )


def test_black_box_scorer_exposes_only_counted_scores(clip_scorer):
    bb = BlackBoxScorer.from_scorer(clip_scorer, PROMPTS, batch_size=3)
    x = torch.rand(5, 3, 32, 32, requires_grad=True)
    scores = bb(x)
    assert scores.shape == (5, 4) and not scores.requires_grad
    assert bb.queries == 2 and bb.images_scored == 5  # batches of 3 then 2
    white = clip_scorer(x, clip_scorer.encode_text(PROMPTS))
    assert torch.allclose(scores, white.detach(), atol=1e-5)
    assert not hasattr(bb, "encode_image") and not hasattr(bb, "model")
    with pytest.raises(ValueError, match="returned shape"):
        BlackBoxScorer(lambda im: torch.zeros(im.shape[0], 2), PROMPTS)(x)


def test_objective_with_black_box_is_not_differentiable(clip_scorer):
    bb = BlackBoxScorer.from_scorer(clip_scorer, PROMPTS)
    obj = MultiPromptObjective(bb, PROMPTS)
    assert not obj.differentiable
    with pytest.raises(ValueError, match="other prompts"):
        MultiPromptObjective(bb, PROMPTS[:2])


def test_embeddings_unit_norm_after_bf16_cast(tokenizer):
    scorer = CLIPScorer(tiny_clip().to(torch.bfloat16), tokenizer)
    img = scorer.encode_image(torch.rand(2, 3, 32, 32))
    assert img.dtype == torch.float32 and torch.allclose(img.norm(dim=1), torch.ones(2), atol=1e-4)
    assert torch.allclose(F.normalize(img, dim=1), img, atol=1e-5)


@pytest.mark.parametrize("popsize", [1, 3, 8])
def test_population_scored_in_one_query_matches_one_at_a_time(popsize):
    """The toy CLIP's architecture (ViT 6 x 192 at 64 px): a population's losses from one black-box query
    equal, to float32 rounding, the losses of its candidates queried one by one; they come back as ordinary
    tensors (not inference-mode ones), so callers may modify them."""
    tok = build_clip_tokenizer()
    torch.manual_seed(0)
    clip = CLIPModel(clip_config(len(tok), tok.bos_token_id, tok.eos_token_id, image_size=64)).eval()
    bb = BlackBoxScorer.from_scorer(CLIPScorer(clip, tok), PROMPTS)
    objective = MultiPromptObjective(bb, PROMPTS)
    images = torch.rand(popsize, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    batched = objective.loss(images)  # (popsize,)
    one = torch.cat([objective.loss(images[i : i + 1]) for i in range(popsize)])
    torch.testing.assert_close(batched, one, rtol=1e-5, atol=1e-6)
    assert bb.queries == 1 + popsize and bb.images_scored == 2 * popsize
    assert not batched.is_inference() and not batched.requires_grad
    batched.add_(1.0)  # an inference-mode tensor would refuse this outside the mode
