"""Training batches drawn from the shapes world, keyed by ``(seed, step)`` so runs resume exactly."""

from __future__ import annotations

import numpy as np
import torch

from ..world import SceneBatch, ShapesWorld


def train_batch(world: ShapesWorld, seed: int, step: int, batch_size: int, **scene_kwargs) -> SceneBatch:
    """Scenes ``step * batch_size ...`` of the training split."""
    return world.batch(seed, "train", step * batch_size, batch_size, **scene_kwargs)


def step_generator(seed: int, step: int, salt: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(np.random.default_rng([seed, step, salt, 7]).integers(2**62)))
    return g


def random_crops(images: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """One random ``crop`` x ``crop`` window per image: (B, C, H, W) -> (B, C, crop, crop)."""
    b, _, h, w = images.shape
    if crop >= h and crop >= w:
        return images
    ys = torch.randint(0, h - crop + 1, (b,), generator=generator)
    xs = torch.randint(0, w - crop + 1, (b,), generator=generator)
    return torch.stack([img[:, y : y + crop, x : x + crop] for img, y, x in zip(images, ys, xs)])


def prompt_ids(tokenizer, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """Token ids `(B, 77)` of ``texts`` padded to the tokenizer's full length, as Stable Diffusion
    pipelines pad prompts."""
    return tokenizer(
        texts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)


@torch.no_grad()
def encode_prompts(tokenizer, text_encoder, texts: list[str], device: torch.device | str = "cpu"):
    """A frozen CLIP text encoder's output for ``texts`` (:func:`prompt_ids`), as Stable Diffusion
    pipelines encode prompts: ``[0]`` the token states `(B, 77, D)`, ``.pooler_output`` the pooled
    embeddings `(B, D)`."""
    return text_encoder(prompt_ids(tokenizer, texts, device))
