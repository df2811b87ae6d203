"""Toy Stable Diffusion: a diffusers ``UNet2DConditionModel`` on the toy VAE's 4x16x16 latents,
conditioned on the toy CLIP text encoder, trained with epsilon prediction and min-SNR weighting.

The exported folder is a stock ``StableDiffusionPipeline`` (``model_index.json``, vae, text_encoder,
tokenizer, unet, scheduler), so ``StableDiffusionPipeline.from_pretrained(dir)`` and
``StableDiffusionImg2ImgPipeline.from_pretrained(dir)`` load it unchanged.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextModel, CLIPTokenizer

from ..world import SceneBatch, ShapesWorld
from .base import EMATrainer
from .data import encode_prompts, step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card
from .registry import MODELS_DIR

UNET_CONFIG: dict[str, Any] = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    layers_per_block=1,
    block_out_channels=(64, 128, 128),
    # attention at 8x8 and 4x4 only: self-attention over the 256 positions of the 16x16 level cost 40% of
    # every training step on the CPU (8.0 s -> 4.9 s per batch of 64, one thread) for little gain here
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=128,
    attention_head_dim=8,
    norm_num_groups=32,
    # the attention-pooled caption is added to the timestep embedding (Imagen; SDXL's pooled text
    # embedding): every ResNet block sees the prompt, not only the two cross-attention levels. Inside the
    # UNet's forward (diffusers' TextTimeEmbedding), so the stock pipelines load and run it unchanged.
    addition_embed_type="text",
    addition_embed_type_num_heads=4,
)
SCHEDULER_CONFIG: dict[str, Any] = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
)


def load_frozen_parts(models_dir: Path = MODELS_DIR) -> tuple[AutoencoderKL, CLIPTextModel, CLIPTokenizer]:
    """The frozen VAE and text encoder the UNet trains against.

    Once the toy SD is exported, its own ``vae`` / ``text_encoder`` / ``tokenizer`` are used, so training
    continues against the same frozen parts even after the stand-alone toy VAE or CLIP trains further
    (as Stable Diffusion keeps its CLIP text encoder fixed). Before that, the shipped toy VAE and CLIP.
    """
    sd = models_dir / "sd"
    if (sd / "model_index.json").exists():
        vae = AutoencoderKL.from_pretrained(sd / "vae")
        text = CLIPTextModel.from_pretrained(sd / "text_encoder")
        tok = CLIPTokenizer.from_pretrained(sd / "tokenizer")
    else:
        for name in ("vae", "clip"):
            if not (models_dir / name / "config.json").exists():
                raise FileNotFoundError(
                    f"toy {name} not found in {models_dir / name}: run `workbench toy train {name}` first"
                )
        vae = AutoencoderKL.from_pretrained(models_dir / "vae")
        text = CLIPTextModel.from_pretrained(models_dir / "clip")
        tok = CLIPTokenizer.from_pretrained(models_dir / "clip")
    return vae.eval().requires_grad_(False), text.eval().requires_grad_(False), tok


class UNetTrainer(EMATrainer):
    name = "unet"
    module_key = "unet"
    recipe = "attention-8x8-4x4-pooled-text"  # warm starts only from weights of the same recipe...
    compatible_recipes = ("attention-8x8-4x4",)  # ...or of one that this recipe extends

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 5e-4,
        image_size: int = 64,
        device: str | None = None,
        uncond_prob: float = 0.1,
        snr_gamma: float = 5.0,
        reuse: int = 4,
        parts: tuple[AutoencoderKL, CLIPTextModel, CLIPTokenizer] | None = None,
        unet_config: dict[str, Any] | None = None,
    ) -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.lr, self.uncond_prob, self.snr_gamma = (
            seed,
            batch_size,
            lr,
            uncond_prob,
            snr_gamma,
        )
        # each rendered + VAE-encoded batch serves ``reuse`` consecutive steps with fresh noise, timesteps
        # and caption dropout: the VAE encoder is ~45% of a step on the CPU, the world never runs out
        self.reuse = max(1, int(reuse))
        self._encoded: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.world = ShapesWorld(image_size)
        self.vae, self.text_encoder, self.tokenizer = parts if parts is not None else load_frozen_parts()
        cfg = {**UNET_CONFIG, **(unet_config or {})}
        cfg["sample_size"] = image_size // 2 ** (len(self.vae.config.block_out_channels) - 1)
        cfg["cross_attention_dim"] = self.text_encoder.config.hidden_size
        self.unet = UNet2DConditionModel(**cfg)
        self.noise_scheduler = DDPMScheduler(**SCHEDULER_CONFIG)
        self.unet.to(self.device)
        self.vae.to(self.device)
        self.text_encoder.to(self.device)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=lr, weight_decay=1e-2)
        self.ema = EMA(self.unet, 0.999)
        alphas = self.noise_scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 500)

    def data(self, step: int) -> SceneBatch:
        n1 = self.batch_size * 3 // 8
        one = train_batch(self.world, self.seed, 2 * step, n1, n_objects=1, entity_prob=0.15)
        many = train_batch(
            self.world, self.seed, 2 * step + 1, self.batch_size - n1, n_objects=(2, 4), entity_prob=0.1
        )
        return SceneBatch(
            one.scenes + many.scenes, torch.cat([one.images, many.images]), torch.cat([one.masks, many.masks])
        )

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return encode_prompts(self.tokenizer, self.text_encoder, captions, self.device)[0]  # (B, 77, D)

    @functools.cached_property
    def empty_prompt(self) -> torch.Tensor:
        """The empty caption's states (1, 77, D): the unconditional input of classifier-free guidance."""
        return self.encode_text([""])

    @torch.no_grad()
    def encoded(self, key: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior mean and std of batch ``key`` (B, 4, h, w) and its caption embeddings (B, 77, D)."""
        if self._encoded is None or self._encoded[0] != key:
            batch = self.data(key)
            post = self.vae.encode(batch.images.to(self.device) * 2 - 1).latent_dist
            self._encoded = (key, post.mean, post.std, self.encode_text(batch.captions))
        return self._encoded[1:]

    def step(self, step: int) -> dict[str, float]:
        mean, std, text = self.encoded(step // self.reuse)
        g = step_generator(self.seed, step)
        drop = torch.rand(mean.shape[0], generator=g) < self.uncond_prob
        with torch.no_grad():
            eps = torch.randn(mean.shape, generator=g).to(self.device)
            latents = (mean + std * eps) * self.vae.config.scaling_factor  # (B, 4, h, w)
            cond = torch.where(drop.to(self.device)[:, None, None], self.empty_prompt, text)
        noise = torch.randn(latents.shape, generator=g).to(self.device)
        t = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (latents.shape[0],), generator=g
        )
        snr = self.snr[t].to(self.device)
        t = t.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        pred = self.unet(noisy, t, encoder_hidden_states=cond).sample
        weight = (
            torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr
        )  # min-SNR-gamma for epsilon prediction
        loss = (weight * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()
        self.optimise(loss, step)
        return {"loss": loss.item()}

    def ema_unet(self) -> UNet2DConditionModel:
        return self.ema_copy(lambda: UNet2DConditionModel(**self.unet.config))

    def pipeline(self) -> StableDiffusionPipeline:
        return StableDiffusionPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=self.ema_unet(),
            scheduler=DDIMScheduler(**SCHEDULER_CONFIG, set_alpha_to_one=False, steps_offset=1),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        ).to(self.device)

    def evaluate(self) -> dict[str, float]:
        from ..evaluate.sd_eval import evaluate_sd_quick

        return evaluate_sd_quick(self.pipeline(), n=32, seed=4242)

    def warm_start(self, export_dir: Path) -> None:
        exported = UNet2DConditionModel.from_pretrained(export_dir / "unet")
        if exported.config.addition_embed_type == self.unet.config.addition_embed_type:
            self.warm_start_from(exported)
            return
        # weights of the recipe without the pooled caption: the new embedding starts at zero output
        # (LayerNorm gain and bias 0), so the warm-started UNet predicts exactly what the exported one did
        missing, unexpected = self.unet.load_state_dict(exported.state_dict(), strict=False)
        if unexpected or any(not k.startswith("add_embedding.") for k in missing):
            raise ValueError(
                f"the UNet in {export_dir} does not fit this recipe (missing {missing[:3]}, unexpected "
                f"{unexpected[:3]}): train from scratch with `workbench toy train unet --fresh`"
            )
        with torch.no_grad():
            self.unet.add_embedding.norm2.weight.zero_()
            self.unet.add_embedding.norm2.bias.zero_()
        self.warm_start_from(self.unet)

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        pipe = self.pipeline()
        pipe.save_pretrained(out_dir, safe_serialization=True)
        write_model_card(
            out_dir,
            "Toy Stable Diffusion (diffusers StableDiffusionPipeline)",
            "UNet2DConditionModel on 4x16x16 latents of the toy VAE, conditioned on the toy CLIP text tower "
            "(77 tokens) by cross-attention at 8x8 and 4x4 and by the attention-pooled caption added to the "
            'timestep embedding (diffusers\' TextTimeEmbedding, `addition_embed_type="text"`), epsilon prediction, min-SNR-5 weighting, 10% caption dropout for classifier-free '
            "guidance, EMA 0.999 weights; DDIM scheduler. Loads with `StableDiffusionPipeline.from_pretrained` "
            "and `StableDiffusionImg2ImgPipeline.from_pretrained`.",
            dict(pipe.unet.config),
            info,
        )
