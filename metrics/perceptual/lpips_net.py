"""The LPIPS network (Zhang et al. 2018, v0.1): trunk taps, unit-normalised differences, linear heads."""

from __future__ import annotations

import torch
from torch import nn

from metrics.perceptual.backbones import BackboneSpec


class LPIPSNetwork(nn.Module):
    """LPIPS distance between image pairs in [-1, 1], as the ``lpips`` package computes it.

    Args:
        spec: the backbone description (taps and channels).
        backbone: a module with a ``features`` ``nn.Sequential`` laid out as torchvision's.
        heads: the 5 linear heads, each `(1, C_k, 1, 1)`.

    Forward:
        x0, x1 (`torch.Tensor` of shape `(B, 3, H, W)`) in [-1, 1] -> `(B,)` distances >= 0.
    """

    def __init__(self, spec: BackboneSpec, backbone: nn.Module, heads: list[torch.Tensor]) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.heads = nn.ParameterList([nn.Parameter(h.clone(), requires_grad=False) for h in heads])
        # The lpips package's ScalingLayer: [-1, 1] pixels -> ImageNet-normalised.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.eval()

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Trunk activations at the LPIPS taps, each `(B, C_k, h_k, w_k)`."""
        out = []
        last = self.spec.taps[-1]
        for i, layer in enumerate(self.backbone.features):
            x = layer(x)
            if i in self.spec.taps:
                out.append(x)
            if i == last:
                break
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        n = x0.shape[0]
        x = (torch.cat([x0, x1]) - self.shift) / self.scale  # (2B, 3, H, W)
        total = x0.new_zeros(n)
        for feat, head in zip(self.taps(x), self.heads, strict=True):
            feat = feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit norm over channels
            diff = (feat[:n] - feat[n:]).pow(2)  # (B, C_k, h, w)
            total = total + (diff * head).sum(dim=1).mean(dim=(-2, -1))  # (B,)
        return total
