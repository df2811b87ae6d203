"""Mitigations against master images: the modality-gap shift, a detector, and a sanitiser."""

from .detector import DetectorConfig, MasterPrintDetector, pixel_statistics
from .detector_data import DetectorSetConfig, mine_master_set
from .sanitiser import REJECTED, Retrieval, Sanitiser, ZeroShotClassifier
from .shift import ShiftedScorer, modality_gap

__all__ = [
    "REJECTED",
    "DetectorConfig",
    "DetectorSetConfig",
    "MasterPrintDetector",
    "Retrieval",
    "Sanitiser",
    "ShiftedScorer",
    "ZeroShotClassifier",
    "mine_master_set",
    "modality_gap",
    "pixel_statistics",
]
