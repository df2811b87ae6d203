"""Adversarial (fooling accuracy, rank) and retrieval (recall@k, mAP) metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import FoolingAccuracy, MeanAveragePrecision, RecallAtK
from metrics.functional import adversarial_rank, average_precision, fooling_accuracy, recall_at_k


def test_fooling_accuracy_and_rank_against_loops():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(5, 20, generator=g, dtype=torch.float64)
    master = torch.rand(5, generator=g, dtype=torch.float64)
    mask = torch.rand(5, 20, generator=g) > 0.3
    acc = fooling_accuracy(master, real, mask)
    ranks = adversarial_rank(master, real)
    for p in range(5):
        cls = [real[p, i].item() for i in range(20) if mask[p, i]]
        assert abs(acc[p].item() - sum(s < master[p].item() for s in cls) / len(cls)) < 1e-12
        ordered = sorted([*real[p].tolist(), master[p].item()], reverse=True)
        assert ranks[p].item() == ordered.index(master[p].item()) + 1
    m = FoolingAccuracy()
    m.update(master[:2], real[:2], mask[:2])
    m.update(master[2:], real[2:], mask[2:])
    assert abs(m.compute().item() - acc.mean().item()) < 1e-12
    assert m.per_prompt_ranks().shape == (5,)
    assert fooling_accuracy(torch.tensor([10.0]), torch.tensor([[1.0, 2.0]])).item() == 1.0
    with pytest.raises(ValueError, match="no real images"):
        fooling_accuracy(master[:1], real[:1], torch.zeros(1, 20, dtype=torch.bool))


def test_recall_and_map_against_torchmetrics_and_sklearn():
    import sklearn.metrics as sk
    from torchmetrics.retrieval import RetrievalMAP, RetrievalRecall

    g = torch.Generator().manual_seed(1)
    scores = torch.rand(6, 15, generator=g, dtype=torch.float64)
    relevance = torch.rand(6, 15, generator=g) > 0.7
    relevance[:, 0] = True  # every query has a relevant item
    indexes = torch.arange(6).repeat_interleave(15)
    for k in (1, 3, 5):
        ref = RetrievalRecall(top_k=k)(scores.flatten(), relevance.flatten(), indexes=indexes)
        assert abs(recall_at_k(scores, relevance, k, mode="fraction").mean().item() - ref.item()) < 1e-6
        hit = [float(relevance[q][torch.argsort(scores[q], descending=True)[:k]].any()) for q in range(6)]
        assert recall_at_k(scores, relevance, k).tolist() == hit
    ap = average_precision(scores, relevance)
    for q in range(6):
        assert abs(ap[q].item() - sk.average_precision_score(relevance[q].numpy(), scores[q].numpy())) < 1e-12
    ref_map = RetrievalMAP()(scores.flatten(), relevance.flatten(), indexes=indexes)
    m = MeanAveragePrecision()
    m.update(scores[:3], relevance[:3])
    m.update(scores[3:], relevance[3:])
    assert abs(m.compute().item() - ref_map.item()) < 1e-6
    r = RecallAtK(k=5)
    r.update(scores, relevance)
    assert r.name == "recall@5" and 0 < r.compute().item() <= 1
    with pytest.raises(ValueError, match="no relevant item"):
        average_precision(scores, torch.zeros_like(relevance))
    assert np.isclose(recall_at_k(torch.eye(3), torch.eye(3).bool(), 1).mean().item(), 1.0)
