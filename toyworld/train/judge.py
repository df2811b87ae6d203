"""Training of the judge on ground-truth scenes, with augmentations that mimic generated images."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from workbench.runs.items import map_batches

from ..judge.matching import match_boxes
from ..judge.model import ShapesJudge
from ..vocab import COLOR_NAMES, ENTITY_NAMES, SHAPES, SIZE_NAMES, TEXTURES
from ..world import SceneBatch, ShapesWorld
from .base import EMATrainer
from .data import step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card

if TYPE_CHECKING:
    from workbench.runtime import Runtime


def judge_targets(batch: SceneBatch, grid: int) -> dict[str, torch.Tensor]:
    """CenterNet targets on a ``grid`` x ``grid`` map: Gaussian heatmap, attribute ids and boxes at centres."""
    b = len(batch.scenes)
    heat = torch.zeros(b, grid, grid)
    ys, xs = torch.meshgrid(torch.arange(grid) + 0.5, torch.arange(grid) + 0.5, indexing="ij")
    idx, attrs, boxes = [], [], []
    for i, scene in enumerate(batch.scenes):
        for obj in scene.objects:
            cx, cy = obj.center
            gx, gy = cx * grid, cy * grid
            w, h = obj.box[2] - obj.box[0], obj.box[3] - obj.box[1]
            sigma = max(w * grid / 6, 0.6)
            heat[i] = torch.maximum(heat[i], torch.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * sigma**2)))
            x, y = min(int(gx), grid - 1), min(int(gy), grid - 1)
            heat[i, y, x] = 1.0
            idx.append((i, y, x))
            attrs.append(
                (
                    SHAPES.index(obj.shape),
                    COLOR_NAMES.index(obj.color),
                    SIZE_NAMES.index(obj.size),
                    TEXTURES.index(obj.texture),
                    ENTITY_NAMES.index(obj.entity) + 1 if obj.entity else 0,
                )
            )
            boxes.append((gx - x - 0.5, gy - y - 0.5, math.log(w), math.log(h)))
    return {
        "heat": heat,
        "idx": torch.tensor(idx),
        "attrs": torch.tensor(attrs),
        "boxes": torch.tensor(boxes),
    }


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss; logits, target: (B, h, w)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp_min(1)


def degrade(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random blur, noise, colour jitter and shift on half the batch (images in [0, 1])."""
    b = images.shape[0]
    out = images.clone()
    sel = torch.rand(b, generator=g) < 0.5
    if sel.any():
        x = out[sel]
        k = 5
        sigma = 0.3 + 1.2 * torch.rand(1, generator=g).item()
        ax = torch.arange(k) - k // 2
        ker = torch.exp(-(ax**2) / (2 * sigma**2))
        ker = ker / ker.sum()
        ker2 = (ker[:, None] * ker[None, :]).expand(3, 1, k, k)
        x = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), ker2, groups=3)
        x = x + 0.04 * torch.rand(1, generator=g).item() * torch.randn(x.shape, generator=g)
        x = x * (0.85 + 0.3 * torch.rand(x.shape[0], 3, 1, 1, generator=g)) + 0.05 * (
            torch.rand(x.shape[0], 1, 1, 1, generator=g) - 0.5
        )
        out[sel] = x.clamp(0, 1)
    return out


class JudgeTrainer(EMATrainer):
    name = "judge"

    grad_clip = 2.0

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 2e-3,
        image_size: int = 64,
        device: str | None = None,
    ) -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.lr = seed, batch_size, lr
        self.world = ShapesWorld(image_size)
        self.model = ShapesJudge(image_size=image_size)
        self.model.to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)
        self.ema = EMA(self.model, 0.998)

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 200)

    def step(self, step: int) -> dict[str, float]:
        batch = train_batch(
            self.world,
            self.seed,
            step,
            self.batch_size,
            n_objects=(1, 4),
            entity_prob=0.2,
            entities=ENTITY_NAMES,
        )
        images = degrade(batch.images, step_generator(self.seed, step)).to(self.device)
        grid = images.shape[-1] // 4
        t = {k: v.to(self.device) for k, v in judge_targets(batch, grid).items()}
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        maps = self.model(images)
        loss_heat = focal_loss(maps["heat"][:, 0], t["heat"])
        bi, yi, xi = t["idx"].T
        loss_attr = sum(
            F.cross_entropy(maps[k][bi, :, yi, xi], t["attrs"][:, j])
            for j, k in enumerate(["shape", "color", "size", "texture", "entity"])
        )
        loss_box = F.l1_loss(maps["box"][bi, :, yi, xi], t["boxes"])
        loss = loss_heat + loss_attr + 2 * loss_box
        self.optimise(loss, step)
        return {
            "loss": loss.item(),
            "heat": loss_heat.item(),
            "attr": float(loss_attr.detach()),
            "box": loss_box.item(),
        }

    def ema_model(self) -> ShapesJudge:
        return self.ema_copy(lambda: ShapesJudge(**self.model.config))

    def evaluate(self) -> dict[str, float]:
        return evaluate_judge(self.ema_model(), n=300, seed=4242)

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(ShapesJudge.from_pretrained(export_dir))

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        model = self.ema_model()
        model.save_pretrained(out_dir, safe_serialization=True)
        write_model_card(
            out_dir,
            "Judge (shapes-world detector)",
            "CenterNet-style detector at stride 4: object centres, shape, colour, size, texture, entity and box. "
            "Trained on ground-truth scenes with blur / noise / colour-jitter augmentations so it reads generated "
            "images too. Load with `toyworld.judge.ShapesJudge.from_pretrained(dir)`.",
            dict(model.config),
            info,
        )


@torch.no_grad()
def evaluate_judge(
    model: ShapesJudge, n: int = 500, seed: int = 999, runtime: Runtime | None = None, batch: int = 128
) -> dict[str, float]:
    """Shape / colour accuracy of matched objects, mean box IoU, exact count, on 1-4 object test scenes.

    With ``runtime``, the scenes are rendered and read in fixed batches of ``batch`` shared among its
    processes (the same numbers on any number of processes).
    """
    world = ShapesWorld(model.config.image_size)
    options: dict[str, Any] = {"n_objects": (1, 4), "entity_prob": 0.1, "entities": ENTITY_NAMES}

    def read(start: int, stop: int) -> list[tuple[int, int, int, int, list[float]]]:
        part = world.batch(seed, "test", start, stop - start, **options)
        out = []
        for scene, d in zip(part.scenes, model.detect(part.images)):
            pairs = match_boxes([x.box for x in d], [o.box for o in scene.objects])
            matched = {r: (p, iou) for p, r, iou in pairs}
            shape_ok = color_ok = 0
            ious: list[float] = []
            for r, obj in enumerate(scene.objects):
                p, iou = matched.get(r, (None, 0.0))
                ious.append(iou)
                shape_ok += p is not None and d[p].shape == obj.shape
                color_ok += p is not None and d[p].color == obj.color
            out.append((len(d) == len(scene.objects), shape_ok, color_ok, len(scene.objects), ious))
        return out

    rows = map_batches(runtime, n, batch, read)  # one row per scene, in scene order
    total = sum(r[3] for r in rows)
    ious = [iou for r in rows for iou in r[4]]
    return {
        "shape_acc": sum(r[1] for r in rows) / total,
        "color_acc": sum(r[2] for r in rows) / total,
        "box_iou": sum(ious) / len(ious),
        "count_acc": sum(r[0] for r in rows) / n,
    }
