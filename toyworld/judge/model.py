"""A CenterNet-style detector: a small CNN at stride 4 predicting object centres and attributes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from ..vocab import COLOR_NAMES, ENTITY_NAMES, SHAPES, SIZE_NAMES, TEXTURES

HEADS: dict[str, int] = {
    "heat": 1,
    "shape": len(SHAPES),
    "color": len(COLOR_NAMES),
    "size": len(SIZE_NAMES),
    "texture": len(TEXTURES),
    "entity": len(ENTITY_NAMES) + 1,  # 0 = not an entity
    "box": 4,  # centre offset (2, in cells) and log width / height (2, in image fractions)
}


@dataclass
class Detection:
    """One detected object. ``box`` is normalised xyxy; ``entity`` is ``None`` for plain shapes."""

    shape: str
    color: str
    size: str
    texture: str
    entity: str | None
    box: tuple[float, float, float, float]
    score: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def position(self) -> str:
        from ..scene import ObjectSpec  # deferred: numpy

        return ObjectSpec(self.shape, self.color, box=self.box).position


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.norm1 = nn.GroupNorm(8, c)
        self.norm2 = nn.GroupNorm(8, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class ShapesJudge(ModelMixin, ConfigMixin):
    """Detector of shapes-world objects.

    Input: images (B, 3, H, W) in [0, 1] with H = W = ``image_size``. Output: a dict of maps
    (B, C, H/4, W/4), one per head in :data:`HEADS`.
    """

    @register_to_config
    def __init__(self, image_size: int = 64, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width // 2, width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
        )
        self.blocks = nn.Sequential(*[_Block(width) for _ in range(depth)])
        self.context = nn.Conv2d(width, width, 3, padding=2, dilation=2)
        self.out = nn.Conv2d(width, sum(HEADS.values()), 1)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.stem(images * 2 - 1)  # (B, w, H/4, W/4)
        h = self.blocks(h)
        h = h + self.context(F.silu(h))
        maps = self.out(F.silu(h))  # (B, sum(HEADS), H/4, W/4)
        return dict(zip(HEADS, maps.split(list(HEADS.values()), dim=1)))

    @torch.no_grad()
    def detect(
        self, images: torch.Tensor, threshold: float = 0.35, max_objects: int = 9
    ) -> list[list[Detection]]:
        """Objects in each image, most confident first.

        Args:
            images: (B, 3, H, W) float in [0, 1]; resized to ``image_size`` if needed.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W) RGB, got shape {tuple(images.shape)}")
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(
                images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        was_training = self.training
        self.eval()
        maps = self(images.to(self.device, self.dtype).clamp(0, 1))
        self.train(was_training)
        heat = torch.sigmoid(maps["heat"][:, 0]).float()  # (B, h, w)
        peaks = heat * (heat == F.max_pool2d(heat[:, None], 3, 1, 1)[:, 0])
        b, hh, ww = heat.shape
        results: list[list[Detection]] = []
        for i in range(b):
            scores, idx = peaks[i].flatten().topk(min(max_objects, hh * ww))
            dets = []
            for s, k in zip(scores.tolist(), idx.tolist()):
                if s < threshold:
                    break
                y, x = divmod(k, ww)
                box = maps["box"][i, :, y, x].float()
                cx, cy = (x + 0.5 + box[0].item()) / ww, (y + 0.5 + box[1].item()) / hh
                bw, bh = box[2].exp().item(), box[3].exp().item()
                ent = int(maps["entity"][i, :, y, x].argmax())
                dets.append(
                    Detection(
                        shape=SHAPES[int(maps["shape"][i, :, y, x].argmax())],
                        color=COLOR_NAMES[int(maps["color"][i, :, y, x].argmax())],
                        size=SIZE_NAMES[int(maps["size"][i, :, y, x].argmax())],
                        texture=TEXTURES[int(maps["texture"][i, :, y, x].argmax())],
                        entity=ENTITY_NAMES[ent - 1] if ent > 0 else None,
                        box=(
                            max(cx - bw / 2, 0.0),
                            max(cy - bh / 2, 0.0),
                            min(cx + bw / 2, 1.0),
                            min(cy + bh / 2, 1.0),
                        ),
                        score=s,
                    )
                )
            results.append(dets)
        return results
