"""Retrieval metrics: recall@k and mean average precision."""

from metrics.retrieval.map import MeanAveragePrecision
from metrics.retrieval.recall import RecallAtK

__all__ = ["MeanAveragePrecision", "RecallAtK"]
