"""Watermark metrics: bit accuracy with binomial p-values, and score-based detection (ROC AUC, TPR at
a fixed FPR from an empirical null)."""

from metrics.watermark.bit_accuracy import BitAccuracy
from metrics.watermark.detection import WatermarkDetection

__all__ = ["BitAccuracy", "WatermarkDetection"]
