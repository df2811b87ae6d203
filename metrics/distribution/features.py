"""Feature extractors for distribution metrics.

An extractor is any ``nn.Module`` mapping [0, 1] images `(B, 3, H, W)` to features `(B, D)`, with a
``name`` attribute (reported beside the number) and ideally ``num_features``. Offline, use an image
encoder of the toy CLIP (:class:`~metrics.embedding.encoders.CLIPImageEncoder`); for standard FID use
:class:`InceptionV3Features` where its weights are present.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from metrics.checks import check_images

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"


def _preprocessing(extractor: nn.Module | None) -> str:
    """How an extractor resizes and normalises its input, for reports."""
    pre = getattr(extractor, "preprocess", None)
    if pre is not None and hasattr(pre, "describe"):
        return pre.describe()
    return str(getattr(extractor, "preprocessing", "not stated by the extractor"))


def features_of(extractor: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run ``extractor`` on checked [0, 1] images without gradients; `(B, D)` float64."""
    check_images(images, "images", (0.0, 1.0))
    with torch.no_grad():
        out = extractor(images)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.ndim != 2:
        out = out.flatten(1)
    return out.to(torch.float64)


class InceptionV3Features(nn.Module):
    """The TF-ported InceptionV3 pool features (2048-D) of standard FID, through ``torch-fidelity``.

    Images in [0, 1] are quantised to 8 bits (as FID's reference code reads PNGs) and resized to
    299x299 by the network itself (bilinear, as the TensorFlow graph).

    Args:
        weights_path: ``weights-inception-2015-12-05-6726825d.pth``; default: the torch hub cache
            (``$TORCH_HOME/hub/checkpoints``), where torch-fidelity keeps it.

    Raises:
        ImportError: without ``torch-fidelity`` (``pip install torch-fidelity``).
        FileNotFoundError: without the weights file (never downloaded here).
    """

    name = "inception-v3-compat (pool3, 2048-D, torch-fidelity)"
    num_features = 2048
    preprocessing = "quantised to 8 bits, bilinear resize to 299x299 inside the network"

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as err:
            raise ImportError(
                "standard FID needs the 'torch-fidelity' package (pip install torch-fidelity) and its "
                f"InceptionV3 weights {INCEPTION_WEIGHTS_FILE!r}; or inject another feature extractor "
                "(e.g. metrics.embedding.CLIPImageEncoder) and report its name"
            ) from err
        path = (
            Path(weights_path)
            if weights_path
            else Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
        )
        if not path.is_file():
            raise FileNotFoundError(
                f"InceptionV3 FID weights not found at {str(path)!r}; copy {INCEPTION_WEIGHTS_FILE!r} there "
                "or pass weights_path="
            )
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
        )
        self.net.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)  # (B, 3, H, W) uint8
        return self.net(pixels)[0].reshape(images.shape[0], -1)  # (B, 2048)


class JudgeFeatures(nn.Module):
    """Features from the toy world's judge (``toyworld.judge.ShapesJudge``), for offline
    distribution metrics: the spatial mean and max of each of its detection head maps.

    Images are resized (bilinear, antialiased) to the judge's ``image_size``.

    Args:
        judge: a ``ShapesJudge`` (or any module whose forward maps [0, 1] images `(B, 3, S, S)` to a
            dict of `(B, C_k, h, w)` maps).
        name: reported beside the number.

    Forward:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1] -> `(B, 2 * sum_k C_k)`.
    """

    preprocessing = "bilinear antialiased resize to the judge's image size"

    def __init__(self, judge: nn.Module, name: str = "toy judge head maps (mean + max pooled)") -> None:
        super().__init__()
        self.judge = judge.eval()
        self.name = name
        self.image_size = int(getattr(getattr(judge, "config", None), "image_size", 64))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if images.shape[-2:] != (self.image_size, self.image_size):
            images = F.interpolate(
                images,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        maps = torch.cat(list(self.judge(images).values()), dim=1)  # (B, sum C_k, h, w)
        return torch.cat([maps.mean(dim=(-2, -1)), maps.amax(dim=(-2, -1))], dim=1)  # (B, 2 sum C_k)
