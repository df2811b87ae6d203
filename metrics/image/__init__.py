"""Pixel, structure and perceptual image metrics (torchmetrics ``Metric`` classes)."""
