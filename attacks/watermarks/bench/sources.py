"""The benchmark's clean images: toy SD generations from shapes-world prompts ("AI-generated") and
scikit-image photographs, all resized to the benchmark size."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from attacks.image.ops import resize
from attacks.watermarks.inversion import ddim_pipeline
from toyworld.world import ShapesWorld
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

PROMPT_SPLIT = "test"


@dataclass
class Sources:
    """Clean images and what is known about them.

    Attributes:
        images: `(N, 3, S, S)` float in [0, 1] (generated first, then photographs).
        captions: the generation prompt, or ``""`` for a photograph.
        generated: `(N,)` bool, True for generated images.
        names: an id per image (``gen/0003``, ``photo/astronaut/1``).
    """

    images: torch.Tensor
    captions: list[str]
    generated: torch.Tensor
    names: list[str]


def shapes_prompts(seed: int, count: int) -> list[str]:
    """Captions of ``count`` shapes-world scenes (the held-out ``test`` split)."""
    world = ShapesWorld()
    return [world.scene(seed, PROMPT_SPLIT, i).caption() for i in range(count)]


def photo_crops(
    names: list[str], crops: int, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, list[str]]:
    """The full photograph and ``crops - 1`` random square crops of each, resized to ``size``."""
    import skimage.data

    out, ids = [], []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise ValueError(f"skimage.data has no photograph {name!r}")
        array = np.asarray(loader())
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"skimage.data.{name} is not an RGB photograph (shape {array.shape})")
        image = torch.from_numpy(array.copy()).permute(2, 0, 1).float()[None] / 255  # (1, 3, H, W)
        h, w = image.shape[-2:]
        for k in range(crops):
            if k == 0:
                side, top, left = min(h, w), (h - min(h, w)) // 2, (w - min(h, w)) // 2
            else:
                side = int(min(h, w) * rng.uniform(0.4, 1.0))
                top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            out.append(resize(image[..., top : top + side, left : left + side], (size, size))[0])
            ids.append(f"photo/{name}/{k}")
    return (torch.stack(out) if out else torch.zeros(0, 3, size, size)), ids


@torch.no_grad()
def generate_clean(
    pipe, prompts: list[str], runtime: Runtime, steps: int, guidance: float, batch_size: int
) -> torch.Tensor:
    """Unwatermarked DDIM generations ``(N, 3, H, W)``; image ``i`` uses the generator keyed
    ``("source", i)``, the same initial noise magnitudes the generation-time watermarks start from."""
    ddim = ddim_pipeline(pipe)
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        gens = [runtime.generator("source", start + i, device="cpu") for i in range(len(chunk))]
        shape = (ddim.unet.config.in_channels, ddim.unet.config.sample_size, ddim.unet.config.sample_size)
        latents = torch.stack([torch.randn(shape, generator=g) for g in gens])
        images = ddim(
            prompt=chunk,
            latents=latents.to(ddim.device, ddim.unet.dtype),
            num_inference_steps=steps,
            guidance_scale=guidance,
            output_type="pt",
        ).images
        out.append(images.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 3, 8, 8)


def build_sources(cfg, pipe, runtime: Runtime) -> Sources:
    """Clean benchmark images for ``cfg`` (a :class:`~attacks.watermarks.bench.config.WatermarkBenchConfig`)."""
    size = cfg.image_size
    prompts = shapes_prompts(cfg.seed, cfg.generation.num_images)
    generated = generate_clean(
        pipe,
        prompts,
        runtime,
        cfg.generation.num_inference_steps,
        cfg.generation.guidance_scale,
        cfg.batch_size,
    )
    generated = resize(generated, (size, size)) if len(prompts) else torch.zeros(0, 3, size, size)
    photos, photo_ids = photo_crops(
        cfg.photos.names, cfg.photos.crops_per_photo, size, runtime.numpy_rng("photos")
    )
    return Sources(
        images=torch.cat([generated, photos]),
        captions=prompts + [""] * len(photo_ids),
        generated=torch.tensor([True] * len(prompts) + [False] * len(photo_ids)),
        names=[f"gen/{i:04d}" for i in range(len(prompts))] + photo_ids,
    )
