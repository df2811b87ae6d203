"""AlexNet and VGG16 convolutional trunks with torchvision's module layout and parameter names.

``AlexNetFeatures().state_dict()`` has the keys ``features.0.weight`` ... of torchvision's
``alexnet().state_dict()`` (and likewise for VGG16), so torchvision checkpoints load into them
(their ``classifier.*`` entries are ignored); torchvision itself is never imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class AlexNetFeatures(nn.Module):
    """torchvision's ``AlexNet.features``: 5 convolutions (64, 192, 384, 256, 256 channels).

    Input: `(B, 3, H, W)` ImageNet-normalised pixels; output of ``features``: `(B, 256, h, w)`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
            nn.ReLU(inplace=True),  # 1
            nn.MaxPool2d(kernel_size=3, stride=2),  # 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
            nn.ReLU(inplace=True),  # 4
            nn.MaxPool2d(kernel_size=3, stride=2),  # 5
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
            nn.ReLU(inplace=True),  # 7
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
            nn.ReLU(inplace=True),  # 9
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
            nn.ReLU(inplace=True),  # 11
            nn.MaxPool2d(kernel_size=3, stride=2),  # 12
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


_VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG16Features(nn.Module):
    """torchvision's ``VGG16.features`` (configuration D, no batch norm): 13 convolutions."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for v in _VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                in_channels = int(v)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@dataclass(frozen=True)
class BackboneSpec:
    """What LPIPS needs to know about a trunk.

    Attributes:
        builder: the module class.
        taps: indices in ``features`` whose outputs (after ReLU) feed the LPIPS heads.
        channels: channels at each tap.
        files: torchvision's checkpoint file names (first: the one torchvision downloads).
        heads_file: the ``lpips`` package's linear-head file name.
    """

    builder: type[nn.Module]
    taps: tuple[int, ...]
    channels: tuple[int, ...]
    files: tuple[str, ...]
    heads_file: str


BACKBONES: dict[str, BackboneSpec] = {
    "alex": BackboneSpec(
        AlexNetFeatures,
        taps=(1, 4, 7, 9, 11),
        channels=(64, 192, 384, 256, 256),
        files=("alexnet-owt-7be5be79.pth", "alexnet-owt-7be5be79.safetensors", "alexnet.safetensors"),
        heads_file="alex.pth",
    ),
    "vgg": BackboneSpec(
        VGG16Features,
        taps=(3, 8, 15, 22, 29),
        channels=(64, 128, 256, 512, 512),
        files=("vgg16-397923af.pth", "vgg16-397923af.safetensors", "vgg16.safetensors"),
        heads_file="vgg.pth",
    ),
}
