"""Measured claims on the shipped toy models, rerun end to end (marker ``slow``:
``make test-slow``, a few CPU-minutes each). Runs are deterministic on the CPU, so these are the numbers
the README reports. The claims themselves are in ``claims.py`` (the GPU suite reruns them on CUDA)."""

from __future__ import annotations

import pytest

from .claims import claim_blend_draws_rare_entities, claim_detector_catches_masters, claim_regions_beat_stock

pytestmark = pytest.mark.slow


def test_region_prompts_beat_stock_by_30_points_on_two_object_layouts(tmp_path):
    claim_regions_beat_stock(tmp_path)


def test_neighbour_blending_draws_rare_and_unseen_entities(tmp_path):
    claim_blend_draws_rare_entities(tmp_path)


def test_master_image_detector_catches_held_out_masters(tmp_path):
    claim_detector_catches_masters(tmp_path)
