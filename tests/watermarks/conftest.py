"""Fixtures of the watermark / attack / paraphrase tests: tiny random-weight pipelines and photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def img2img_pipe():
    """A tiny random-weight ``StableDiffusionImg2ImgPipeline`` (32 x 32 native images)."""
    from workbench.dummy import dummy_sd_pipeline

    return dummy_sd_pipeline("img2img", seed=0)


@pytest.fixture(scope="session")
def txt2img_pipe():
    """A tiny random-weight ``StableDiffusionPipeline`` (latents 4 x 16 x 16)."""
    from workbench.dummy import dummy_sd_pipeline

    return dummy_sd_pipeline("txt2img", seed=0)


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """Two scikit-image photographs resized to 256 x 256: ``(2, 3, 256, 256)`` in [0, 1]."""
    from PIL import Image
    from skimage import data

    out = []
    for array in (data.astronaut(), data.coffee()):
        image = Image.fromarray(array).resize((256, 256), Image.BICUBIC)
        out.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def generators(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]
