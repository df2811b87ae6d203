"""Fréchet distance (scipy sqrtm reference) and KID (torchmetrics reference), injectable extractors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from scipy import linalg

from metrics import CLIPImageEncoder, FrechetDistance, KernelInceptionDistance
from metrics.distribution import InceptionV3Features
from metrics.functional import frechet_distance, gaussian_stats, kernel_inception_distance


def _reference_fd(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _features(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / d**0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix.double() + shift


def test_frechet_distance_matches_scipy_sqrtm():
    for d, shift in ((8, 0.0), (16, 0.5), (32, 2.0)):
        x, y = _features(300, d, 0.0, 1), _features(250, d, shift, 2)
        ours = frechet_distance(*gaussian_stats(x), *gaussian_stats(y)).item()
        ref = _reference_fd(x.numpy(), y.numpy())
        assert abs(ours - ref) < 1e-6 * max(1.0, abs(ref)), (d, ours, ref)
    same = _features(100, 8, 0.0, 3)
    assert abs(frechet_distance(*gaussian_stats(same), *gaussian_stats(same)).item()) < 1e-8


def test_frechet_metric_accumulates_in_batches_and_reports(caplog):
    x, y = _features(300, 16, 0.0, 1), _features(250, 16, 0.3, 2)
    m = FrechetDistance(num_features=16, extractor_name="unit-test features")
    for i in range(0, 300, 64):
        m.update_features(x[i : i + 64], real=True)
    for i in range(0, 250, 50):
        m.update_features(y[i : i + 50], real=False)
    with caplog.at_level(logging.WARNING):
        value = m.compute().item()
    assert abs(value - _reference_fd(x.numpy(), y.numpy())) < 1e-6
    assert "< 2048" in caplog.text
    d = m.describe()
    assert d["feature_extractor"] == "unit-test features" and d["n_real"] == 300 and d["n_generated"] == 250
    assert "N < 2048" in d["warning"]
    with pytest.raises(ValueError, match="expected 16"):
        m.update_features(torch.zeros(2, 8), real=True)
    with pytest.raises(ValueError, match="NaN"):
        m.update_features(torch.full((2, 16), float("nan")), real=True)


def test_frechet_with_clip_extractor_on_images(tiny_clip):
    model, processor = tiny_clip
    encoder = CLIPImageEncoder(model, processor, name="tiny-clip image embedding")
    g = torch.Generator().manual_seed(0)
    real = torch.rand(40, 3, 32, 32, generator=g)
    fake = (real * 0.5 + 0.25).clamp(0, 1)
    m = FrechetDistance(encoder)
    m.update(real, real=True)
    m.update(fake, real=False)
    with torch.no_grad():
        fr, ff = encoder(real).double(), encoder(fake).double()
    assert abs(m.compute().item() - _reference_fd(fr.numpy(), ff.numpy())) < 1e-6 * max(
        1, _reference_fd(fr.numpy(), ff.numpy())
    )
    assert m.describe()["feature_extractor"] == "tiny-clip image embedding"
    assert "resize to shorter side 32" in m.describe()["preprocessing"]
    assert m.num_features == 16


def test_kid_matches_torchmetrics_on_full_sets():
    from torchmetrics.image.kid import KernelInceptionDistance as TMKID

    x, y = _features(60, 12, 0.0, 1).float(), _features(60, 12, 0.4, 2).float()

    class Identity(torch.nn.Module):
        def forward(self, z):
            return z

    with pytest.warns(UserWarning, match="save all extracted features"):
        tm = TMKID(feature=Identity(), subsets=1, subset_size=60)
    tm.update(x, real=True)
    tm.update(y, real=False)
    ref_mean, _ = tm.compute()
    ours = KernelInceptionDistance(subsets=1, subset_size=60, extractor_name="id")
    ours.update_features(x, real=True)
    ours.update_features(y, real=False)
    mean, std = ours.compute()
    assert abs(mean.item() - ref_mean.item()) < 1e-6 and std.item() == 0.0
    assert mean.item() > 0


def test_kid_subsets_are_seeded():
    x, y = _features(80, 8, 0.0, 1), _features(80, 8, 0.5, 2)
    a = kernel_inception_distance(
        x, y, subsets=10, subset_size=30, generator=torch.Generator().manual_seed(0)
    )
    b = kernel_inception_distance(
        x, y, subsets=10, subset_size=30, generator=torch.Generator().manual_seed(0)
    )
    c = kernel_inception_distance(
        x, y, subsets=10, subset_size=30, generator=torch.Generator().manual_seed(1)
    )
    assert a[0].item() == b[0].item() and a[0].item() != c[0].item() and a[1].item() > 0
    with pytest.raises(ValueError, match="larger than the feature sets"):
        kernel_inception_distance(x, y, subsets=1, subset_size=100)
    m = KernelInceptionDistance(subsets=5, subset_size=1000, extractor_name="id")
    m.update_features(x, real=True)
    m.update_features(y, real=False)
    m.compute()
    assert m.describe()["subset_size"] == 80  # capped at the set size, and reported


def test_inception_extractor_fails_clearly_without_package_or_weights(tmp_path):
    with pytest.raises((ImportError, FileNotFoundError), match="torch-fidelity|weights"):
        InceptionV3Features(weights_path=tmp_path / "missing.pth")


def test_frechet_with_toy_judge_features():
    from metrics.distribution import JudgeFeatures
    from toyworld.judge.model import ShapesJudge

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        judge = ShapesJudge(image_size=32, width=16, depth=1)
    extractor = JudgeFeatures(judge)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(30, 3, 48, 48, generator=g), torch.rand(30, 3, 48, 48, generator=g) * 0.5
    m = FrechetDistance(extractor)
    m.update(real, real=True)
    m.update(fake, real=False)
    with torch.no_grad():
        fr, ff = extractor(real).double(), extractor(fake).double()
    ref = _reference_fd(fr.numpy(), ff.numpy())
    assert abs(m.compute().item() - ref) < 1e-6 * max(1.0, ref) and ref > 0
    assert (
        m.describe()["feature_extractor"].startswith("toy judge")
        and "resize" in m.describe()["preprocessing"]
    )
