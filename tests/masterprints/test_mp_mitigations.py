"""Mitigations: the modality-gap shift, the master-image detector, and the sanitiser."""

from __future__ import annotations

import pytest
import torch

from attacks.masterprints import build_space
from attacks.masterprints.mitigations import (
    REJECTED,
    DetectorConfig,
    DetectorSetConfig,
    MasterPrintDetector,
    Retrieval,
    Sanitiser,
    ShiftedScorer,
    ZeroShotClassifier,
    mine_master_set,
    modality_gap,
    pixel_statistics,
)
from attacks.masterprints.toy_images import ToyWorldImages
from metrics.functional import tpr_at_fpr
from toyworld.world import ShapesWorld

from .tiny_models import PROMPTS


def test_shift_narrows_the_modality_gap(clip_scorer):
    images, _ = ToyWorldImages(size=32, per_prompt=4).labelled(PROMPTS)
    gap = modality_gap(clip_scorer, images, PROMPTS)
    assert gap.shape == (16,)
    shifted = ShiftedScorer(clip_scorer, gap, shift=0.25)
    assert shifted.name.endswith("+shift0.25") and shifted.score_kind == "cosine"
    before = modality_gap(clip_scorer, images, PROMPTS).norm()
    after = modality_gap(shifted, images, PROMPTS).norm()
    assert after < before
    text = shifted.encode_text(PROMPTS)
    assert torch.allclose(text.norm(dim=1), torch.ones(4), atol=1e-5)
    manual = torch.nn.functional.normalize(clip_scorer.encode_text(PROMPTS) + 0.25 * gap, dim=1)
    assert torch.allclose(text, manual, atol=1e-6)
    with pytest.raises(ValueError, match="shift must be in"):
        ShiftedScorer(clip_scorer, gap, shift=0.0)


def test_pixel_statistics_shape_and_sense():
    flat = torch.full((1, 3, 32, 32), 0.5)
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    f = pixel_statistics(torch.cat([flat, noise]))
    assert f.shape == (2, 14)
    assert (f[1, 7:13] > f[0, 7:13]).all()  # noise has more gradient / Laplacian energy


def test_detector_set_detector_and_sanitiser(clip_scorer, runtime, tmp_path):
    space = build_space({"name": "pixels", "param_size": 16}, image_size=32)
    small = DetectorSetConfig(images=12, prompts_per_image=2, steps=5, lr=0.05, batch=6)
    train = mine_master_set(clip_scorer, space, PROMPTS, small, runtime, key="train")
    test = mine_master_set(clip_scorer, space, PROMPTS, small, runtime, key="test")
    assert train.shape == (12, 3, 32, 32) and not torch.allclose(train, test)
    world = ShapesWorld(32)
    real_train = world.batch(seed=0, split="train", start=0, count=64).images
    real_test = world.batch(seed=0, split="test", start=0, count=100).images

    det = MasterPrintDetector(clip_scorer, DetectorConfig(epochs=150))
    curve = det.fit(train, real_train, generator=runtime.generator("head"))
    assert curve[-1] < curve[0]
    p_master, p_real = det.probability(test), det.probability(real_test)
    detection = tpr_at_fpr(p_real, p_master, 0.01)
    tpr, thr = detection["tpr"], detection["threshold"]
    assert (
        tpr >= 0.9 and detection["achieved_fpr"] <= 0.01
    )  # mined images are easy to tell from flat-coloured toy scenes

    det.save(tmp_path / "detector.safetensors")
    again = MasterPrintDetector.load(tmp_path / "detector.safetensors", clip_scorer)
    assert torch.allclose(again.probability(test), p_master, atol=1e-6)

    sanitiser = Sanitiser(det, thr)
    clf = ZeroShotClassifier(clip_scorer, PROMPTS, sanitiser)
    pred = clf.predict(torch.cat([test[:4], real_test[:4]]))
    flagged = ~sanitiser.accept(torch.cat([test[:4], real_test[:4]]))
    assert (pred[flagged] == REJECTED).all() and (pred[~flagged] >= 0).all()
    assert flagged[:4].sum() >= 3

    gallery = torch.cat([real_test[:20], test[:3]])  # three master images hidden among real scenes
    open_index = Retrieval(clip_scorer, gallery)
    guarded = Retrieval(clip_scorer, gallery, sanitiser)
    assert guarded.rejected.tolist() == [i for i in range(23) if not sanitiser.accept(gallery[i : i + 1])[0]]
    top = guarded.search(PROMPTS, k=5)
    assert top.shape == (4, 5) and not set(top.flatten().tolist()) & set(guarded.rejected.tolist())
    assert open_index.search(PROMPTS, k=23).shape == (4, 23)


def test_untrained_detector_errors(clip_scorer):
    det = MasterPrintDetector(clip_scorer)
    with pytest.raises(RuntimeError, match="not trained"):
        det.probability(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="at least 2 master"):
        det.fit(torch.rand(1, 3, 32, 32), torch.rand(4, 3, 32, 32), torch.Generator())
