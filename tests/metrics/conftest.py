"""Fixtures of the metrics tests: photographs, random image pairs, a tiny random-weight CLIP."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def photographs() -> dict[str, np.ndarray]:
    """scikit-image's bundled RGB photographs as float64 [0, 1] (H, W, 3) arrays."""
    import skimage.data

    return {
        name: getattr(skimage.data, name)().astype(np.float64) / 255.0
        for name in ("astronaut", "coffee", "chelsea", "rocket")
    }


@pytest.fixture
def image_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches (4, 3, 48, 48) in [0, 1]: smooth images and a noisy copy."""
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(
        torch.rand(4, 3, 12, 12, generator=g), size=(48, 48), mode="bilinear"
    )
    noisy = (base + 0.08 * torch.randn(base.shape, generator=g)).clamp(0, 1)
    return noisy, base


@pytest.fixture(scope="session")
def tiny_clip():
    """``(model, processor)``: a random-weight 2-layer CLIP (32x32 images) with an offline tokenizer."""
    from workbench.dummy import dummy_clip

    return dummy_clip(seed=0)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory, tiny_clip):
    """The tiny CLIP saved with ``save_pretrained`` (loadable by folder path)."""
    model, processor = tiny_clip
    path = tmp_path_factory.mktemp("clip")
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path
