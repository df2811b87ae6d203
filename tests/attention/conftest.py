"""Fixtures of the attention-layer tests: SD-1.5-shaped UNets, shrunk."""

from __future__ import annotations

import pytest
import torch


def sd15_shaped_unet(layers_per_block: int = 2, seed: int = 0):
    """SD-1.5's UNet architecture (4 levels, the same block types and names, 16 transformer blocks with
    ``layers_per_block=2``), shrunk to (32, 32, 64, 64) channels and cross-attention width 32."""
    from diffusers import UNet2DConditionModel

    from workbench.dummy import SD15_UNET_CONFIG

    config = {
        **SD15_UNET_CONFIG,
        "block_out_channels": [32, 32, 64, 64],
        "cross_attention_dim": 32,
        "attention_head_dim": 2,
        "layers_per_block": layers_per_block,
        "sample_size": 16,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DConditionModel(**config).eval()


@pytest.fixture(scope="session")
def sd15_unet():
    return sd15_shaped_unet()


@pytest.fixture(scope="session")
def tiny_unet():
    from workbench.dummy import dummy_unet

    return dummy_unet()
