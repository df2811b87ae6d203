"""Toy captioner: a transformers ``BlipForConditionalGeneration`` + ``BlipProcessor`` (BERT word
tokenizer over the closed vocabulary), so the real BLIP captioners use the same interface."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
)

from ..pixels import OPENAI_MEAN, OPENAI_STD, normalize
from ..vocab import all_words
from ..world import SceneBatch, ShapesWorld
from .base import EMATrainer
from .data import step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]


def build_blip_tokenizer(out_dir: str | Path | None = None) -> BertTokenizer:
    """A BERT tokenizer whose WordPiece vocabulary is the shapes world's words (one token each)."""
    words = SPECIAL + all_words() + [",", "."]
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(words) + "\n")
        tok = BertTokenizer(str(vocab), do_lower_case=True, bos_token="[DEC]", model_max_length=64)
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok


def blip_config(tok: BertTokenizer, image_size: int = 64) -> BlipConfig:
    return BlipConfig(
        vision_config=dict(
            hidden_size=128,
            intermediate_size=512,
            num_hidden_layers=4,
            num_attention_heads=4,
            image_size=image_size,
            patch_size=8,
        ),
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=128,
            intermediate_size=512,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=64,
            encoder_hidden_size=128,
            bos_token_id=tok.bos_token_id,
            pad_token_id=tok.pad_token_id,
            sep_token_id=tok.sep_token_id,
            eos_token_id=tok.sep_token_id,
        ),
        projection_dim=128,
    )


class CaptionerTrainer(EMATrainer):
    """Trains the toy BLIP captioner on shapes-world scenes.

    Args:
        seed: data and initialisation seed (batches are drawn from ``(seed, step)``: resumes exactly).
        batch_size: scenes per step (half single objects, half 2-4 objects).
        lr: AdamW learning rate (warm-up over 300 steps).
        image_size: scene side in pixels.
        device: ``cpu`` (default) or ``cuda``.
        vae_frac: share of each batch passed through the toy SD's VAE (encode, sample, decode) before
            captioning, so the captioner reads images as the toy SD draws them (its generations and
            img2img outputs are VAE decodes); 0 trains on clean renders only.
        vae: the VAE of that round trip (default: the toy SD's, else the shipped toy VAE).
    """

    name = "captioner"
    recipe = "vae-roundtrip"  # warm starts from the same recipe's weights or from the clean-render ones
    compatible_recipes = (None,)

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 5e-4,
        image_size: int = 64,
        device: str | None = None,
        vae_frac: float = 0.5,
        vae: Any = None,
    ) -> None:
        if not 0.0 <= vae_frac <= 1.0:
            raise ValueError(f"vae_frac must be in [0, 1], got {vae_frac}")
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.lr = seed, batch_size, lr
        self.vae_frac = vae_frac
        self.vae = None
        if vae_frac > 0:
            if vae is None:
                from .unet import load_frozen_parts  # deferred: diffusers

                vae = load_frozen_parts()[0]
            self.vae = vae.eval().requires_grad_(False).to(self.device)
        self.world = ShapesWorld(image_size)
        self.tokenizer = build_blip_tokenizer()
        self.model = BlipForConditionalGeneration(blip_config(self.tokenizer, image_size))
        self.model.to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.05)
        self.ema = EMA(self.model, 0.998)

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 300)

    def data(self, step: int) -> SceneBatch:
        half = self.batch_size // 2
        one = train_batch(self.world, self.seed, 2 * step, half, n_objects=1, entity_prob=0.1)
        many = train_batch(
            self.world, self.seed, 2 * step + 1, self.batch_size - half, n_objects=(2, 4), entity_prob=0.1
        )
        return SceneBatch(
            one.scenes + many.scenes, torch.cat([one.images, many.images]), torch.cat([one.masks, many.masks])
        )

    @torch.no_grad()
    def vae_roundtrip(self, images: torch.Tensor, step: int) -> torch.Tensor:
        """``images`` `(B, 3, H, W)` in [0, 1] with a ``vae_frac`` share (chosen by the step) replaced by
        their VAE round trip."""
        if self.vae is None:
            return images
        g = step_generator(self.seed, step, salt=21)
        pick = torch.rand(images.shape[0], generator=g) < self.vae_frac
        if not bool(pick.any()):
            return images
        x = images[pick].to(self.device) * 2 - 1  # (P, 3, H, W) in [-1, 1]
        z = self.vae.encode(x).latent_dist.sample(generator=g)
        out = images.clone()
        out[pick] = ((self.vae.decode(z).sample + 1) / 2).clamp(0, 1).to(images.device)
        return out

    def step(self, step: int) -> dict[str, float]:
        batch = self.data(step)
        images = self.vae_roundtrip(batch.images, step)
        tok = self.tokenizer(batch.captions, padding="longest", truncation=True, return_tensors="pt")
        input_ids = tok.input_ids.clone()
        input_ids[:, 0] = self.tokenizer.bos_token_id  # BLIP decodes from [DEC], as at generation time
        labels = input_ids.masked_fill(tok.attention_mask == 0, -100)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        self.model.train()
        out = self.model(
            pixel_values=normalize(images).to(self.device),
            input_ids=input_ids.to(self.device),
            attention_mask=tok.attention_mask.to(self.device),
            labels=labels.to(self.device),
        )
        self.optimise(out.loss, step)
        return {"loss": out.loss.item()}

    def ema_model(self) -> BlipForConditionalGeneration:
        return self.ema_copy(lambda: BlipForConditionalGeneration(self.model.config))

    def processor(self) -> BlipProcessor:
        size = self.model.config.vision_config.image_size
        ip = BlipImageProcessor(
            size={"height": size, "width": size}, image_mean=list(OPENAI_MEAN), image_std=list(OPENAI_STD)
        )
        return BlipProcessor(image_processor=ip, tokenizer=self.tokenizer)

    def evaluate(self) -> dict[str, float]:
        from ..evaluate.captioner_eval import evaluate_captioner  # deferred: PIL

        return evaluate_captioner(self.ema_model(), self.tokenizer, n=100, seed=4242)

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(BlipForConditionalGeneration.from_pretrained(export_dir))

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        model = self.ema_model()
        model.save_pretrained(out_dir, safe_serialization=True)
        self.processor().save_pretrained(out_dir)
        write_model_card(
            out_dir,
            "Toy captioner (transformers BlipForConditionalGeneration)",
            "BLIP image-captioning architecture trained on shapes-world scenes; captions follow the world's grammar "
            "and parse back with `toyworld.world.parse_caption`.",
            model.config.to_dict(),
            info,
        )
