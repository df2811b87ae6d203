"""Watermark metrics: bit accuracy, binomial p-values, TPR at fixed FPR, ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from metrics import BitAccuracy, WatermarkDetection
from metrics.functional import (
    binomial_p_value,
    bit_accuracy,
    matching_bits,
    roc_auc,
    threshold_at_fpr,
    tpr_at_fpr,
)


def test_bit_accuracy_and_binomial_p_values():
    g = torch.Generator().manual_seed(0)
    key = torch.randint(0, 2, (32,), generator=g)
    decoded = key.repeat(5, 1)
    for i in range(5):
        decoded[i, : i * 4] ^= 1  # flip 0, 4, 8, 12, 16 bits
    acc = bit_accuracy(decoded, key)
    assert torch.allclose(acc, torch.tensor([1.0, 28 / 32, 24 / 32, 20 / 32, 16 / 32], dtype=torch.float64))
    p = binomial_p_value(matching_bits(decoded, key), 32)
    for i in range(5):
        ref = binomtest(int(32 - 4 * i), 32, 0.5, alternative="greater").pvalue
        assert abs(p[i].item() - ref) < 1e-12
    m = BitAccuracy(n_bits=32, alpha=1e-3)
    m.update(decoded[:2], key)
    m.update(decoded[2:].bool(), key.bool())
    assert abs(m.compute().item() - acc.mean().item()) < 1e-12
    assert m.detected().tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError, match="must hold bits"):
        bit_accuracy(decoded * 2, key)
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        m.update(decoded[:, :16], key[:16])


def test_tpr_at_fpr_against_sklearn_roc_curve():
    import sklearn.metrics as sklearn_metrics

    rng = np.random.default_rng(0)
    null = rng.normal(0, 1, 2000)
    pos = rng.normal(2.0, 1, 500)
    for fpr in (0.01, 0.001):
        r = tpr_at_fpr(torch.from_numpy(null), torch.from_numpy(pos), fpr)
        assert r["achieved_fpr"] <= fpr and (null > r["threshold"]).mean() == r["achieved_fpr"]
        labels = np.r_[np.zeros(null.size), np.ones(pos.size)]
        f, t, _ = sklearn_metrics.roc_curve(labels, np.r_[null, pos])
        # the best TPR at FPR <= target on the ROC curve (scores strictly above the threshold)
        best = t[f <= fpr].max()
        assert abs(r["tpr"] - best) <= 1.0 / pos.size
    auc = roc_auc(torch.from_numpy(null), torch.from_numpy(pos))
    assert abs(auc - sklearn_metrics.roc_auc_score(labels, np.r_[null, pos])) < 1e-12


def test_threshold_semantics_and_resolution():
    null = torch.arange(100, dtype=torch.float64)  # 0..99
    thr, achieved = threshold_at_fpr(null, 0.05)
    assert thr == 94.0 and achieved == 0.05  # 95..99 are above
    thr, achieved = threshold_at_fpr(null, 0.001)  # below 1/100: nothing may pass
    assert thr == 99.0 and achieved == 0.0
    assert roc_auc(torch.zeros(3), torch.zeros(3)) == 0.5  # ties count half
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(torch.tensor([0.0, float("nan")]), torch.ones(2))


def test_watermark_detection_metric():
    rng = np.random.default_rng(1)
    m = WatermarkDetection()
    m.update(torch.from_numpy(rng.normal(0, 1, 500)), watermarked=False)
    m.update(torch.from_numpy(rng.normal(3, 1, 200)), watermarked=True)
    out = m.compute()
    assert out["n_null"] == 500 and out["n_watermarked"] == 200
    assert 0.95 < out["auc"] <= 1.0
    assert out["tpr@1%"] >= out["tpr@0.1%"] and "threshold@1%" in out
    assert "warning@0.1%" in out  # 500 null images cannot resolve a FPR of 0.1%
    assert "warning@1%" not in out
    mixed = WatermarkDetection(fprs=(0.1,))
    mixed.update(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([False, True, False, True]))
    assert mixed.compute()["auc"] == 0.75
