"""LPIPS as an accumulating metric."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.checks import check_images, check_pair, parse_input_range
from metrics.perceptual.lpips_net import LPIPSNetwork
from metrics.perceptual.weights import (
    backbone_features_state,
    backbone_spec,
    find_backbone_file,
    load_lpips_heads,
    load_state_file,
)

logger = logging.getLogger(__name__)


class LPIPS(PerItemMetric):
    """Mean LPIPS distance over image pairs (v0.1, AlexNet or VGG16 trunk, the published linear heads).

    Values equal the ``lpips`` package's ``LPIPS(net=...)`` for the same trunk weights. The trunk
    weights are torchvision's ImageNet checkpoints, found as described in
    :mod:`metrics.perceptual.weights`; without them construction fails with a message naming the file.

    Args:
        net: ``"alex"`` (the LPIPS authors' recommended metric) or ``"vgg"``.
        input_range: ``"[0,1]"`` (default) or ``"[-1,1]"``; inputs are checked against it.
        backbone_path: a checkpoint file or a folder holding it (see above).
        backbone_state_dict: trunk tensors (``features.*`` keys) given directly instead of a file.
        heads_path: linear heads file (default: the ``lpips`` package's).
        allow_random_backbone: for tests only: a seeded random trunk when no weights are found
            (the numbers then mean nothing, and :meth:`describe` says so).

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, 3, H, W)`) in ``input_range``; at least 32x32 for
        AlexNet (its stride-4 stem and three 3x3 max-pools), 16x16 for VGG16.
    """

    name = "lpips"
    higher_is_better = False
    is_differentiable = True

    def __init__(
        self,
        net: str = "alex",
        input_range: str = "[0,1]",
        backbone_path: str | os.PathLike | None = None,
        backbone_state_dict: dict[str, torch.Tensor] | None = None,
        heads_path: str | os.PathLike | None = None,
        allow_random_backbone: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        spec = backbone_spec(net)
        self.net_name = net
        self.input_range = input_range
        self.value_range = parse_input_range(input_range)
        backbone = spec.builder()
        self.backbone_source: str
        if backbone_state_dict is not None:
            backbone.load_state_dict(backbone_features_state(backbone_state_dict, net, "backbone_state_dict"))
            self.backbone_source = "state dict passed by the caller"
        else:
            try:
                path = find_backbone_file(net, backbone_path)
            except FileNotFoundError:
                if not allow_random_backbone:
                    raise
                logger.warning(
                    "LPIPS(%s) uses a RANDOM backbone (allow_random_backbone=True): values are meaningless",
                    net,
                )
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    backbone = spec.builder()
                self.backbone_source = "random (allow_random_backbone=True)"
            else:
                backbone.load_state_dict(backbone_features_state(load_state_file(path), net, str(path)))
                self.backbone_source = str(path)
        self.network = LPIPSNetwork(spec, backbone, load_lpips_heads(net, heads_path))
        self.min_size = 32 if net == "alex" else 16

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-pair LPIPS without accumulating (differentiable): `(B,)` float64."""
        check_images(preds, "preds", self.value_range, min_size=self.min_size)
        check_images(target, "target", self.value_range, min_size=self.min_size)
        check_pair(preds, target)
        if self.input_range.replace(" ", "") == "[0,1]":
            preds, target = preds * 2 - 1, target * 2 - 1
        return self.network(preds.float(), target.float()).to(torch.float64)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        with torch.no_grad():
            self._append(self.forward_values(preds, target))

    def settings(self) -> dict[str, Any]:
        return {
            "net": self.net_name,
            "version": "0.1",
            "input_range": self.input_range,
            "backbone_weights": self.backbone_source,
        }
