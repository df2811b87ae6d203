"""The layout's own layers in :class:`~generators.layout.gcdp.model.GCDPDenoiser`: a small encoder that reads
``[noisy latent; layout embedding]`` and adds into the trunk's skip connections and middle block through
zero-initialised 1x1 convolutions (ControlNet's coupling), the trunk's input wrapper that adds the encoder's
first features to the trunk's first ones through a zero-initialised convolution, the class head that reads the
trunk's last features, and the trunk's output wrapper that hands those features out beside the noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["LayoutEncoder", "LayoutHead", "TrunkInput", "TrunkOutput", "residual_specs"]


def residual_specs(trunk: dict[str, Any]) -> list[tuple[int, int]]:
    """``(channels, level)`` of each skip connection a ``UNet2DConditionModel`` of config ``trunk`` collects on
    its way down (``level`` = downsamplings so far), in its order: the input convolution's, then each down
    block's resnets and downsampler."""
    channels = list(trunk["block_out_channels"])
    per_block = trunk["layers_per_block"]
    per_block = [per_block] * len(channels) if isinstance(per_block, int) else list(per_block)
    specs = [(channels[0], 0)]
    for i, (c, n) in enumerate(zip(channels, per_block)):
        specs += [(c, i)] * n
        if i < len(channels) - 1:
            specs.append((c, i + 1))
    return specs


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _block(c_in: int, c_out: int, groups: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.GroupNorm(min(groups, c_out), c_out),
        nn.SiLU(),
    )


class LayoutEncoder(nn.Module):
    """Per-level features of ``[latent; layout embedding]`` (one per trunk resolution, the trunk's channels),
    conditioned on the trunk's timestep embedding, and the residuals they add to the trunk.

    Args:
        in_channels: latent channels + layout embedding channels.
        trunk: the trunk's ``UNet2DConditionModel`` config.
        time_embed_dim: width of the trunk's timestep embedding.
    """

    def __init__(self, in_channels: int, trunk: dict[str, Any], time_embed_dim: int) -> None:
        super().__init__()
        channels = list(trunk["block_out_channels"])
        groups = trunk.get("norm_num_groups") or 32
        self.stem = _block(in_channels, channels[0], groups)
        self.time = nn.ModuleList(nn.Linear(time_embed_dim, c) for c in channels)
        self.levels = nn.ModuleList(
            _block(channels[max(i - 1, 0)], c, groups, stride=2 if i else 1) for i, c in enumerate(channels)
        )
        self.specs = residual_specs(trunk)
        self.zero_convs = nn.ModuleList(_zero(nn.Conv2d(channels[lv], c, 1)) for c, lv in self.specs)
        self.zero_mid = _zero(nn.Conv2d(channels[-1], channels[-1], 1))

    def forward(
        self, x: torch.Tensor, temb: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Args:
            x: `(B, C + E, h, w)`; temb: the trunk's timestep embedding `(B, D_t)`.

        Returns:
            the per-level features (level ``i``: `(B, c_i, h / 2^i, w / 2^i)`), the skip residuals (one per
            :func:`residual_specs` entry) and the middle block's residual `(B, c_last, h / 2^L, w / 2^L)`.
        """
        feats, h = [], self.stem(x)  # (B, c_0, h, w)
        for level, time in zip(self.levels, self.time):
            h = level(h) + time(temb)[:, :, None, None]  # (B, c_i, h / 2^i, w / 2^i)
            feats.append(h)
        skips = [conv(feats[lv]) for conv, (_, lv) in zip(self.zero_convs, self.specs)]
        return feats, skips, self.zero_mid(feats[-1])


class LayoutHead(nn.Module):
    """Class logits `(B, K, h, w)` from the trunk's last features and the encoder's first level."""

    def __init__(self, trunk_channels: int, encoder_channels: int, num_classes: int, groups: int) -> None:
        super().__init__()
        c = trunk_channels
        self.body = _block(trunk_channels + encoder_channels, c, groups)
        self.out = nn.Conv2d(c, num_classes, 3, padding=1)

    def forward(self, trunk_features: torch.Tensor, encoder_features: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(torch.cat([trunk_features, encoder_features], dim=1)))


class TrunkInput(nn.Module):
    """The trunk's input convolution, unchanged, plus the layout's features through a zero-initialised
    convolution: `(B, C + F, h, w)` = ``[latent; layout features]`` -> `(B, c_0, h, w)`. The sum enters the
    trunk's whole way down, where the skip residuals reach only its way up."""

    def __init__(self, conv: nn.Conv2d, feature_channels: int) -> None:
        super().__init__()
        self.conv = conv
        self.zero = _zero(nn.Conv2d(feature_channels, conv.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv.in_channels
        return self.conv(x[:, :c]) + self.zero(x[:, c:])


class TrunkOutput(nn.Module):
    """The trunk's output convolution, unchanged, also handing out the features it reads:
    `(B, c_0, h, w)` -> `(B, C + c_0, h, w)` = ``[noise; features]``."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(hidden), hidden], dim=1)
