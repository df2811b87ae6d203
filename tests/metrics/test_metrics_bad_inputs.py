"""Bad inputs give a clear error, never a silent number."""

from __future__ import annotations

import pytest
import torch

from metrics import MSE, PSNR, SSIM, CLIPImageScore, MetricInputError
from metrics.functional import (
    multiscale_structural_similarity,
    peak_signal_noise_ratio,
    structural_similarity,
)


@pytest.mark.parametrize(
    "fn", [structural_similarity, peak_signal_noise_ratio, multiscale_structural_similarity]
)
def test_nan_range_shape_dtype_and_size_errors(fn):
    x = torch.rand(2, 3, 200, 200)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(MetricInputError, match="NaN"):
        fn(bad, x)
    with pytest.raises(MetricInputError, match="outside the declared range"):
        fn(x * 255, x * 255)  # 8-bit values with the default data_range=1.0
    with pytest.raises(MetricInputError, match=r"\(B, C, H, W\)"):
        fn(x[0], x[0])
    with pytest.raises(MetricInputError, match="floating point"):
        fn((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))
    with pytest.raises(MetricInputError, match="same shape"):
        fn(x, x[..., :190, :190])
    with pytest.raises(MetricInputError, match="data_range is required"):
        fn(x, x, data_range=None)


def test_data_range_declared_not_guessed():
    x = torch.rand(1, 3, 16, 16) * 255
    y = (x + 10).clamp(0, 255)
    value = peak_signal_noise_ratio(x, y, data_range=255.0)
    assert 20 < value.item() < 30
    with pytest.raises(MetricInputError, match="high > low"):
        SSIM(data_range=(1.0, 0.0))


def test_classes_check_like_functions():
    x = torch.rand(1, 3, 16, 16)
    for m in (SSIM(), PSNR(), MSE()):
        with pytest.raises(MetricInputError):
            m.update(x - 0.5, x)
        with pytest.raises(MetricInputError, match="empty"):
            m.update(x[:0], x[:0])
    with pytest.raises(ValueError, match="smaller than the 11x11 window|at least 11x11"):
        structural_similarity(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_embedding_metrics_refuse_grayscale_and_rgba(tiny_clip):
    model, processor = tiny_clip
    m = CLIPImageScore(model, processor)
    with pytest.raises(MetricInputError, match="3 channels"):
        m.update(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    with pytest.raises(MetricInputError, match="RGBA"):
        m.update(torch.rand(1, 4, 32, 32), torch.rand(1, 4, 32, 32))
