"""SSIM, MS-SSIM, PSNR and MSE against scikit-image and an independent scipy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics_helpers import to_tensor
from scipy.ndimage import gaussian_filter
from skimage.metrics import mean_squared_error as sk_mse
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from metrics import MSE, MSSSIM, PSNR, SSIM
from metrics.functional import (
    MS_SSIM_BETAS,
    mean_squared_error,
    multiscale_structural_similarity,
    peak_signal_noise_ratio,
    structural_similarity,
)

SK_ARGS = {"channel_axis": -1, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _degrade(a: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(gaussian_filter(a, sigma=(0.8, 0.8, 0)) + rng.normal(0, 0.04, a.shape), 0, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ssim_matches_skimage_on_photographs(photographs, dtype):
    for name, a in photographs.items():
        b = _degrade(a)
        ref = sk_ssim(a, b, data_range=1.0, **SK_ARGS)
        ours = structural_similarity(to_tensor(b), to_tensor(a), data_range=1.0, dtype=dtype).item()
        assert abs(ours - ref) < 1e-4, (name, ours, ref)
        assert 0.2 < ours < 0.99  # a real, non-trivial comparison


def test_ssim_matches_skimage_8bit_range_and_tuple_range(photographs):
    a8 = (photographs["coffee"] * 255).round()
    b8 = (_degrade(photographs["coffee"], 1) * 255).round()
    ref = sk_ssim(a8.astype(np.uint8), b8.astype(np.uint8), data_range=255, **SK_ARGS)
    assert abs(structural_similarity(to_tensor(a8), to_tensor(b8), data_range=255.0).item() - ref) < 1e-4
    # [-1, 1] images with data_range=(-1, 1) equal [0, 1] images with data_range=1 (SSIM depends on L only).
    x, y = to_tensor(photographs["chelsea"]), to_tensor(_degrade(photographs["chelsea"]))
    a = structural_similarity(x * 2 - 1, y * 2 - 1, data_range=(-1.0, 1.0)).item()
    ref = sk_ssim(
        photographs["chelsea"] * 2 - 1, _degrade(photographs["chelsea"]) * 2 - 1, data_range=2.0, **SK_ARGS
    )
    assert abs(a - ref) < 1e-4


def test_ssim_batch_equals_per_image_and_uniform_window(image_pair):
    preds, target = image_pair
    batch = structural_similarity(preds, target)
    for i in range(preds.shape[0]):
        p = preds[i].permute(1, 2, 0).double().numpy()
        t = target[i].permute(1, 2, 0).double().numpy()
        assert abs(batch[i].item() - sk_ssim(p, t, data_range=1.0, **SK_ARGS)) < 1e-4
        # skimage's own defaults: 7x7 uniform window, sample covariance
        uni = structural_similarity(
            preds[i : i + 1], target[i : i + 1], gaussian_weights=False, use_sample_covariance=True
        )
        assert abs(uni.item() - sk_ssim(p, t, data_range=1.0, channel_axis=-1)) < 1e-4
    assert batch.shape == (4,) and batch.dtype == torch.float64


def test_ssim_metric_accumulates_and_resets(image_pair):
    preds, target = image_pair
    m = SSIM(data_range=1.0)
    m.update(preds[:2], target[:2])
    m.update(preds[2:], target[2:])
    assert torch.allclose(m.compute(), structural_similarity(preds, target).mean())
    assert m.per_item().shape == (4,)
    d = m.describe()
    assert (
        d["metric"] == "ssim"
        and d["sigma"] == 1.5
        and d["window"] == "gaussian"
        and d["data_range"] == [0.0, 1.0]
    )
    m.reset()
    with (
        pytest.raises(RuntimeError, match="before any update"),
        pytest.warns(UserWarning, match="before the ``update``"),
    ):
        m.compute()


def _ms_ssim_reference(a: np.ndarray, b: np.ndarray, betas) -> float:
    """MS-SSIM from the definition with scipy filters (independent of the torch code)."""
    c1, c2, pad = 0.01**2, 0.03**2, 5
    terms = []
    for j in range(len(betas)):
        f = lambda z: gaussian_filter(z, sigma=(1.5, 1.5, 0), truncate=3.5)[pad:-pad, pad:-pad]  # noqa: E731
        mx, my = f(a), f(b)
        vx, vy, cov = f(a * a) - mx * mx, f(b * b) - my * my, f(a * b) - mx * my
        cs = (2 * cov + c2) / (vx + vy + c2)
        value = ((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs) if j == len(betas) - 1 else cs
        terms.append(max(value.mean(axis=(0, 1)).mean(), 0.0))
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        a = a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
        b = b[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
    return float(np.prod([t**beta for t, beta in zip(terms, betas, strict=True)]))


def test_ms_ssim_matches_reference(photographs):
    a = photographs["astronaut"][:256, :256]
    b = _degrade(a)
    ours = multiscale_structural_similarity(to_tensor(b), to_tensor(a)).item()
    ref = _ms_ssim_reference(b, a, MS_SSIM_BETAS)
    assert abs(ours - ref) < 1e-4 and 0.5 < ours < 1
    # torchmetrics differs only in its border handling: same definition, close values
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim

    tm = tm_ms_ssim(to_tensor(b).float(), to_tensor(a).float(), data_range=1.0).item()
    assert abs(ours - tm) < 0.02
    m = MSSSIM(betas=MS_SSIM_BETAS[:3])
    m.update(to_tensor(b)[..., :64, :64], to_tensor(a)[..., :64, :64])
    assert abs(m.compute().item() - _ms_ssim_reference(b[:64, :64], a[:64, :64], MS_SSIM_BETAS[:3])) < 1e-4


def test_ms_ssim_refuses_too_small_images():
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="at least 176x176"):
        multiscale_structural_similarity(x, x)


def test_psnr_and_mse_match_skimage(photographs, image_pair):
    for a in photographs.values():
        b = _degrade(a)
        assert (
            abs(peak_signal_noise_ratio(to_tensor(b), to_tensor(a)).item() - sk_psnr(a, b, data_range=1.0))
            < 1e-6
        )
        assert abs(mean_squared_error(to_tensor(b), to_tensor(a)).item() - sk_mse(a, b)) < 1e-10
    preds, target = image_pair
    m, e = PSNR(data_range=1.0), MSE()
    for i in range(4):
        m.update(preds[i : i + 1], target[i : i + 1])
        e.update(preds[i : i + 1], target[i : i + 1])
    expected = np.mean(
        [sk_psnr(target[i].double().numpy(), preds[i].double().numpy(), data_range=1.0) for i in range(4)]
    )
    assert abs(m.compute().item() - expected) < 1e-4
    assert m.describe()["unit"] == "dB"
    assert abs(e.compute().item() - ((preds.double() - target.double()) ** 2).mean().item()) < 1e-9


def test_psnr_of_identical_images_is_inf():
    x = torch.rand(2, 3, 8, 8)
    assert torch.isinf(peak_signal_noise_ratio(x, x)).all()
