"""Baseline: image-to-image from a collage of the references (each concept cut out by its mask and
pasted into its place), guided by the target prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from generators.multiconcept.concept import Concept
from generators.multiconcept.request import compositions, sampling_kwargs
from generators.multiconcept.sharing import share_components
from workbench.generation import GenerationRequest, Generator, register_generator
from workbench.sampling import PIPELINE_SAMPLING

__all__ = ["CollageConfig", "CollageGenerator", "collage_pipeline", "default_boxes", "make_collage"]

Box = tuple[float, float, float, float]


def default_boxes(n: int, margin: float = 0.06) -> list[Box]:
    """``n`` equal vertical strips, left to right, as normalised xyxy boxes inset by ``margin``."""
    if n < 1:
        raise ValueError(f"need at least one box, got {n}")
    return [(i / n + margin / n, margin, (i + 1) / n - margin / n, 1 - margin) for i in range(n)]


def _mask_bbox(mask: torch.Tensor) -> tuple[int, int, int, int]:
    ys, xs = mask.nonzero(as_tuple=True)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def make_collage(
    concepts: Sequence[Concept],
    height: int,
    width: int,
    boxes: Sequence[Box] | None = None,
    background: Sequence[float] | None = None,
) -> torch.Tensor:
    """Paste each concept's masked pixels into its box on a plain background.

    Args:
        concepts: the concepts (their masks say what to cut out).
        height, width: collage size in pixels.
        boxes: one normalised xyxy box per concept (``(x0, y0, x1, y1)`` in [0, 1], y down); default
            :func:`default_boxes`. Each cut-out is scaled to fit its box, aspect ratio kept, centred.
        background: RGB in [0, 1]; default the median of the references' pixels outside their masks
            (mid grey when the masks cover everything).

    Returns:
        `torch.Tensor` of shape `(3, height, width)` in [0, 1].
    """
    boxes = list(boxes) if boxes is not None else default_boxes(len(concepts))
    if len(boxes) != len(concepts):
        raise ValueError(f"got {len(boxes)} boxes for {len(concepts)} concepts")
    if background is None:
        outside = [c.image[:, ~c.mask] for c in concepts if (~c.mask).any()]  # (3, n_i) each
        bg = torch.cat(outside, dim=1).median(dim=1).values if outside else torch.full((3,), 0.5)
    else:
        bg = torch.as_tensor(background, dtype=torch.float32)
    canvas = bg.view(3, 1, 1).expand(3, height, width).clone()  # (3, H, W)
    for concept, box in zip(concepts, boxes):
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(
                f"box {box} must be normalised xyxy with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
            )
        top, bottom, left, right = _mask_bbox(concept.mask)
        patch = concept.image[:, top:bottom, left:right]  # (3, h, w)
        alpha = concept.mask[top:bottom, left:right].float()[None]  # (1, h, w)
        bw, bh = (x1 - x0) * width, (y1 - y0) * height
        scale = min(bw / patch.shape[2], bh / patch.shape[1])
        ph, pw = max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[2] * scale))
        patch = F.interpolate(
            patch[None], size=(ph, pw), mode="bilinear", antialias=True, align_corners=False
        )[0]
        alpha = F.interpolate(
            alpha[None], size=(ph, pw), mode="bilinear", antialias=True, align_corners=False
        )[0]
        py = min(max(0, round((y0 + y1) / 2 * height - ph / 2)), height - ph)
        px = min(max(0, round((x0 + x1) / 2 * width - pw / 2)), width - pw)
        region = canvas[:, py : py + ph, px : px + pw]
        canvas[:, py : py + ph, px : px + pw] = alpha * patch + (1 - alpha) * region
    return canvas.clamp(0, 1)


def collage_pipeline(pipe: Any) -> Any:
    """A ``StableDiffusionImg2ImgPipeline`` sharing ``pipe``'s components (no copy); call it with
    ``image=make_collage(...)[None]`` and a ``strength`` (0.7 keeps the layout, redraws the details)."""
    from diffusers import StableDiffusionImg2ImgPipeline

    return share_components(StableDiffusionImg2ImgPipeline, pipe)


class CollageConfig(BaseModel):
    """Args:
    strength: img2img strength (0.7 keeps the layout and redraws the details).
    layout: ``"prompt"`` pastes each concept in its box (condition ``boxes``); ``"strips"`` left to right.
    """

    model_config = ConfigDict(extra="forbid")

    strength: float = Field(0.7, gt=0.0, le=1.0)
    layout: Literal["prompt", "strips"] = "prompt"


@register_generator("collage")
class CollageGenerator(Generator):
    """Image-to-image from a collage of the references, guided by the target prompt (the naive baseline)."""

    config_class = CollageConfig
    sampling = PIPELINE_SAMPLING  # the paper's DDIM 50 steps, guidance 7.5
    requires = ("concepts",)

    def __init__(self, pipe: Any, config: CollageConfig | None = None) -> None:
        super().__init__(pipe, config)
        self.i2i = collage_pipeline(pipe)
        self.i2i.set_progress_bar_config(disable=True)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        height = request.height or self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor
        width = request.width or height
        kwargs = {k: v for k, v in sampling_kwargs(request).items() if k not in ("height", "width")}
        images = []
        for c in compositions(request):
            boxes = c.boxes if self.config.layout == "prompt" and c.boxes else default_boxes(len(c.concepts))
            collage = make_collage(c.concepts, height, width, boxes)[None]  # (1, 3, H, W)
            images.append(
                self.i2i(
                    c.prompt,
                    image=collage,
                    strength=self.config.strength,
                    num_images_per_prompt=len(c.generators),
                    generator=c.generators,
                    **kwargs,
                ).images
            )
        return torch.cat(images)  # (B, 3, H, W) in [0, 1]
