"""Everything measured about one master image: fooling on its targets, on held-out prompts, on a
second model, and the mitigations (modality-gap shift, detector)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from metrics.functional import tpr_at_fpr
from toyworld.world import ShapesWorld
from workbench.runtime import Runtime

from .config import EvaluationConfig
from .evaluation import (
    FoolingReport,
    RealImageBank,
    embedding_bound,
    evaluate_fooling,
    related_prompts,
    zero_shot_accuracy,
)
from .mitigations.detector import MasterPrintDetector
from .mitigations.detector_data import mine_master_set
from .mitigations.sanitiser import Retrieval, Sanitiser
from .mitigations.shift import ShiftedScorer, modality_gap
from .prompts import load_prompts
from .scorers.base import Scorer
from .spaces.base import SearchSpace
from .toy_images import ToyWorldImages, toy_class_prompts

logger = logging.getLogger(__name__)


@dataclass
class Assessment:
    """Metrics (``metrics.json`` names) and report material of one master image."""

    metrics: dict[str, Any] = field(default_factory=dict)
    targets: FoolingReport | None = None
    heldout: FoolingReport | None = None
    transfer: FoolingReport | None = None
    shifted: FoolingReport | None = None
    detector: MasterPrintDetector | None = None
    examples: dict[str, torch.Tensor] = field(default_factory=dict)


def assess_master(
    master: torch.Tensor,
    prompts: list[str],
    scorer: Scorer,
    space: SearchSpace,
    evaluation: EvaluationConfig,
    runtime: Runtime,
    transfer_scorer: Scorer | None = None,
) -> Assessment:
    """Evaluate a master image.

    Args:
        master (`torch.Tensor` of shape `(1, 3, H, W)`): the image in [0, 1].
        prompts: its target prompts.
        scorer: the model it was mined on.
        space: its search space (the detector's training images are mined in the same space).
        evaluation: what to measure.
        runtime: device and seeds.
        transfer_scorer: a second model for the transfer test (``None``: not measured).
    """
    out = Assessment()
    size = master.shape[-1]
    real = ToyWorldImages(
        size=size,
        per_prompt=evaluation.real_per_prompt,
        seed=evaluation.world_seed,
        split=evaluation.split,
        distractors=evaluation.distractors,
    )
    bank = RealImageBank(scorer, real)

    # 1. targets
    out.targets = evaluate_fooling(scorer, master, prompts, bank)
    m = out.metrics
    m["fooling_accuracy"] = out.targets.fooling_accuracy
    m["outrank_fraction"] = out.targets.outrank_fraction
    m["per_prompt"] = out.targets.to_metrics()["per_prompt"]
    out.examples = {p: real(p)[:4] for p in prompts[:8]}
    bound = embedding_bound(
        scorer, prompts, torch.tensor([r.best_real_score for r in out.targets.per_prompt])
    )
    m["embedding_bound_margin"] = bound.margin
    m["embedding_bound_outrank_fraction"] = bound.outrank_fraction

    # 2. held-out, semantically related prompts
    if evaluation.heldout_prompts is not None:
        heldout = load_prompts(evaluation.heldout_prompts, what="evaluation.heldout_prompts")
    else:
        heldout = list(related_prompts(prompts, evaluation.heldout_templates))
    if heldout:
        out.heldout = evaluate_fooling(scorer, master, heldout, bank)
        m["heldout_fooling_accuracy"] = out.heldout.fooling_accuracy
        m["heldout_outrank_fraction"] = out.heldout.outrank_fraction
        m["heldout_prompts"] = len(heldout)

    # 3. transfer to a second model
    if transfer_scorer is not None:
        out.transfer = evaluate_fooling(transfer_scorer, master, prompts, real)
        m["transfer_fooling_accuracy"] = out.transfer.fooling_accuracy
        m["transfer_outrank_fraction"] = out.transfer.outrank_fraction

    # 4. the modality-gap shift and the zero-shot accuracy it costs
    if evaluation.shift is not None:
        classes = (
            load_prompts(evaluation.zero_shot_prompts, what="evaluation.zero_shot_prompts")
            if evaluation.zero_shot_prompts
            else toy_class_prompts()
        )
        zs = ToyWorldImages(
            size=size, per_prompt=evaluation.zero_shot_per_class, seed=evaluation.world_seed, split="val"
        )
        images, labels = zs.labelled(classes)
        gap = modality_gap(scorer, images, classes)
        shifted = ShiftedScorer(scorer, gap, evaluation.shift)
        out.shifted = evaluate_fooling(shifted, master, prompts, real)
        m["shifted_fooling_accuracy"] = out.shifted.fooling_accuracy
        m["shifted_outrank_fraction"] = out.shifted.outrank_fraction
        m["zero_shot_accuracy"] = zero_shot_accuracy(scorer, images, labels, classes)
        m["shifted_zero_shot_accuracy"] = zero_shot_accuracy(shifted, images, labels, classes)
        m["gap_norm"] = float(gap.norm())

    # 5. a detector of master images, tested on held-out ones
    if evaluation.detector is not None:
        m.update(_assess_detector(master, prompts, scorer, space, evaluation, runtime, out))
    return out


def _assess_detector(
    master, prompts, scorer, space, evaluation: EvaluationConfig, runtime: Runtime, out: Assessment
) -> dict[str, Any]:
    cfg = evaluation.detector
    size = master.shape[-1]
    pool = list(dict.fromkeys(list(prompts) + toy_class_prompts()))
    train_masters = mine_master_set(scorer, space, pool, cfg.train_set, runtime, key="detector-train")
    test_masters = mine_master_set(scorer, space, pool, cfg.test_set, runtime, key="detector-test")
    world = ShapesWorld(size)
    real_train = world.batch(seed=evaluation.world_seed, split="train", start=0, count=cfg.real_train).images
    real_test = world.batch(seed=evaluation.world_seed, split="test", start=0, count=cfg.real_test).images
    det = MasterPrintDetector(scorer, cfg.detector)
    det.fit(train_masters, real_train, generator=runtime.generator("masterprints", "detector-head"))
    p_master, p_real = det.probability(test_masters), det.probability(real_test)
    detection = tpr_at_fpr(p_real, p_master, cfg.fpr)  # flagged: probability > threshold
    tpr, thr = detection["tpr"], detection["threshold"]
    out.detector = det
    out.examples["detector test masters"] = test_masters[:8]

    # the sanitiser in front of text-to-image retrieval: the master image hidden among real scenes
    gallery = torch.cat([real_test, master.cpu()])  # the master image is the last one
    last = gallery.shape[0] - 1
    open_top1 = Retrieval(scorer, gallery).search(prompts, k=1)[:, 0]  # (P,)
    guarded_top1 = Retrieval(scorer, gallery, Sanitiser(det, thr)).search(prompts, k=1)[:, 0]
    return {
        "retrieval_master_top1": float((open_top1 == last).double().mean()),
        "sanitised_retrieval_master_top1": float((guarded_top1 == last).double().mean()),
        "detector_tpr_at_1pct_fpr" if cfg.fpr == 0.01 else f"detector_tpr_at_{cfg.fpr:g}_fpr": tpr,
        "detector_threshold": thr,
        "detector_flags_master": bool(det.probability(master)[0] > thr),
        "detector_test_masters": int(test_masters.shape[0]),
        "detector_test_real": int(real_test.shape[0]),
    }
