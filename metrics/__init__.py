"""The metrics layer: every experiment, report and demo computes its numbers here.

Metrics follow the torchmetrics ``Metric`` API (``update`` / ``compute`` / ``reset``, states that
reduce across processes); plain functions live in :mod:`metrics.functional`. Images are float
tensors `(B, 3, H, W)` in a declared range ([0, 1] unless stated); ranges are checked, never guessed.

Example:
    >>> import torch
    >>> from metrics import PSNR, SSIM
    >>> x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> ssim = SSIM(data_range=1.0)
    >>> ssim.update(x, x)
    >>> float(ssim.compute())
    1.0
"""

from __future__ import annotations

from workbench.lazy import lazy_exports

# Names are imported on first use, so `import metrics.cli` (a CLI plugin) stays fast.
_EXPORTS: dict[str, str] = {
    "BitAccuracy": "metrics.watermark.bit_accuracy",
    "CLIPImageEncoder": "metrics.embedding.encoders",
    "CLIPImageScore": "metrics.embedding.clip_i",
    "CLIPTextScore": "metrics.embedding.clip_t",
    "ConceptFidelity": "metrics.embedding.concept_fidelity",
    "ConfidenceInterval": "metrics.bootstrap",
    "FoolingAccuracy": "metrics.adversarial.fooling",
    "FrechetDistance": "metrics.distribution.frechet",
    "HFVisionEncoder": "metrics.embedding.encoders",
    "ImageEncoder": "metrics.embedding.encoders",
    "ImageReadError": "metrics.io",
    "KernelInceptionDistance": "metrics.distribution.kid",
    "LPIPS": "metrics.image.lpips",
    "MSE": "metrics.image.mse",
    "MSSSIM": "metrics.image.ms_ssim",
    "MeanAveragePrecision": "metrics.retrieval.map",
    "MetricInputError": "metrics.checks",
    "PSNR": "metrics.image.psnr",
    "PerItemMetric": "metrics.base",
    "RecallAtK": "metrics.retrieval.recall",
    "SSIM": "metrics.image.ssim",
    "WatermarkDetection": "metrics.watermark.detection",
    "bootstrap_ci": "metrics.bootstrap",
    "load_image": "metrics.io",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
