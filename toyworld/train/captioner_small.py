"""The toy captioner fine-tuned to read small objects, warm-started from the shipped one.

The shipped captioner reads large objects well but misreads a small object's shape or colour word (a
small object is about 11 px wide at 64 px). This trainer continues the ``vae-roundtrip`` recipe on more
multi-object scenes and weights the loss of every shape and colour word of a small object by
``small_weight``; it exports to ``models/captioner-small`` (load it with ``load_captioner('toyworld/models/captioner-small')``).

    workbench toy train captioner-small --threads 2 --minutes 60     # resumable; exports to models/captioner-small
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..pixels import normalize
from ..vocab import COLOR_NAMES, SHAPES
from ..world import SceneBatch
from .captioner import CaptionerTrainer
from .data import train_batch
from .registry import MODELS_DIR

__all__ = ["SmallObjectCaptionerTrainer", "small_word_weights"]

_PHRASE_START = ("a", "an", ",", "and")


def small_word_weights(tokenizer, input_ids: torch.Tensor, small_weight: float) -> torch.Tensor:
    """Per-token loss weights `(B, T)`: ``small_weight`` on the shape and colour words of each phrase that
    says ``small`` (``"a small blue square ..."``), 1 elsewhere."""
    vocab = tokenizer.get_vocab()
    small = vocab["small"]
    starts = {vocab[w] for w in _PHRASE_START if w in vocab}
    attributes = {vocab[w] for w in (*SHAPES, *COLOR_NAMES) if w in vocab}
    weights = torch.ones(input_ids.shape, dtype=torch.float32)
    for b, row in enumerate(input_ids.tolist()):
        in_small = False
        for t, token in enumerate(row):
            if token in starts:
                in_small = False
            elif token == small:
                in_small = True
            elif in_small and token in attributes:
                weights[b, t] = small_weight
    return weights


class SmallObjectCaptionerTrainer(CaptionerTrainer):
    """The captioner's ``vae-roundtrip`` recipe, weighted towards small objects.

    Args:
        small_weight: loss weight of a small object's shape and colour words (1 elsewhere).
        single_frac: share of each batch with one object (the rest has 2-4).
        base_dir: the captioner the first start continues (``None``: from scratch).
        seed, batch_size, lr, image_size, device, vae_frac, vae: as :class:`~.captioner.CaptionerTrainer`.
    """

    name = "captioner-small"
    recipe = "vae-roundtrip-small-weighted"
    compatible_recipes = ()  # warm starts only from its own exports (the first start loads ``base_dir``)
    eval_command = (
        "workbench toy eval --only captioner --json; toyworld.evaluate.captioner_eval.errors_by_size"
    )

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 2e-4,
        image_size: int = 64,
        device: str | None = None,
        vae_frac: float = 0.5,
        vae: Any = None,
        small_weight: float = 3.0,
        single_frac: float = 0.25,
        base_dir: Path | None = MODELS_DIR / "captioner",
    ) -> None:
        if small_weight < 1.0:
            raise ValueError(f"small_weight must be at least 1, got {small_weight}")
        if not 0.0 <= single_frac <= 1.0:
            raise ValueError(f"single_frac must be in [0, 1], got {single_frac}")
        super().__init__(
            seed=seed,
            batch_size=batch_size,
            lr=lr,
            image_size=image_size,
            device=device,
            vae_frac=vae_frac,
            vae=vae,
        )
        self.small_weight, self.single_frac = small_weight, single_frac
        if base_dir is not None and (Path(base_dir) / "config.json").is_file():
            self.warm_start(Path(base_dir))  # the first start continues the shipped captioner

    def lr_at(self, step: int) -> float:
        return self.lr  # a warm start: no warm-up

    def data(self, step: int) -> SceneBatch:
        one_n = round(self.batch_size * self.single_frac)
        # salted scene seeds: other scenes than the shipped recipe's at the same step
        one = train_batch(self.world, self.seed + 1000, 2 * step, one_n, n_objects=1, entity_prob=0.1)
        many = train_batch(
            self.world,
            self.seed + 1000,
            2 * step + 1,
            self.batch_size - one_n,
            n_objects=(2, 4),
            entity_prob=0.1,
        )
        return SceneBatch(
            one.scenes + many.scenes, torch.cat([one.images, many.images]), torch.cat([one.masks, many.masks])
        )

    def step(self, step: int) -> dict[str, float]:
        batch = self.data(step)
        images = self.vae_roundtrip(batch.images, step)
        tok = self.tokenizer(batch.captions, padding="longest", truncation=True, return_tensors="pt")
        input_ids = tok.input_ids.clone()
        input_ids[:, 0] = self.tokenizer.bos_token_id  # BLIP decodes from [DEC], as at generation time
        weights = small_word_weights(self.tokenizer, input_ids, self.small_weight) * tok.attention_mask
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        self.model.train()
        out = self.model(
            pixel_values=normalize(images).to(self.device),
            input_ids=input_ids.to(self.device),
            attention_mask=tok.attention_mask.to(self.device),
        )
        logits = out.logits[:, :-1]  # (B, T-1, V): token t+1 predicted at t
        targets = input_ids[:, 1:].to(self.device)  # (B, T-1)
        w = weights[:, 1:].to(self.device)  # (B, T-1)
        smoothing = float(getattr(self.model.config.text_config, "label_smoothing", 0.0) or 0.0)
        per_token = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            reduction="none",
            label_smoothing=smoothing,
        ).view_as(targets)
        loss = (per_token * w).sum() / w.sum()
        self.optimise(loss, step)
        return {"loss": loss.item()}
