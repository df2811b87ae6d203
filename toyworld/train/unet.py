"""Toy Stable Diffusion: a diffusers ``UNet2DConditionModel`` on the toy VAE's 4x16x16 latents,
conditioned on a text encoder started from the toy CLIP's and trained with it (``text_lr``), with
epsilon prediction and min-SNR weighting.

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
from .data import prompt_ids, step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card
from .registry import MODELS_DIR
from .storage import save_pipeline_half

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
    """The frozen VAE and the text encoder the UNet trains with (returned frozen; the trainer unfreezes it).

    Once the toy SD is exported, its own ``vae`` / ``text_encoder`` / ``tokenizer`` are used, so training
    continues with the same parts even after the stand-alone toy VAE or CLIP trains further. Before that,
    the shipped toy VAE and CLIP.
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
    recipe = "attention-8x8-4x4-pooled-text-tuned-text"  # warm starts only from weights of the same recipe...
    compatible_recipes = ("attention-8x8-4x4-pooled-text", "attention-8x8-4x4")  # ...or one it extends

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
        text_lr: float = 1e-4,
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
        # the text encoder trains with the UNet (``text_lr`` > 0): the toy CLIP's contrastive objective never
        # needed where an object is, so its frozen token states for "on the left" and "on the right" are
        # nearly equal (cosine 0.97, `text_cosine_position`) and no amount of UNet training can read the position from them
        self.text_lr = float(text_lr)
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
        groups = [{"params": list(self.unet.parameters()), "lr": lr, "base_lr": lr}]
        self.text_ema: EMA | None = None
        if self.text_lr > 0:
            self.text_encoder.train().requires_grad_(True)
            groups.append({"params": list(self.text_encoder.parameters()), "lr": text_lr, "base_lr": text_lr})
            self.text_ema = EMA(self.text_encoder, 0.999)
        self.opt = torch.optim.AdamW(groups, weight_decay=1e-2)
        self.ema = EMA(self.unet, 0.999)
        alphas = self.noise_scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)

    def lr_at(self, step: int) -> float:
        """The warm-up factor of every parameter group's learning rate."""
        return min(1.0, (step + 1) / 500)

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return [p for group in self.opt.param_groups for p in group["params"]]

    def data(self, step: int) -> SceneBatch:
        n1 = self.batch_size * 3 // 8
        one = train_batch(self.world, self.seed, 2 * step, n1, n_objects=1, entity_prob=0.15)
        many = train_batch(
            self.world, self.seed, 2 * step + 1, self.batch_size - n1, n_objects=(2, 4), entity_prob=0.1
        )
        return SceneBatch(
            one.scenes + many.scenes, torch.cat([one.images, many.images]), torch.cat([one.masks, many.masks])
        )

    @functools.cached_property
    def empty_ids(self) -> torch.Tensor:
        """The empty caption's ids (1, 77): the unconditional input of classifier-free guidance."""
        return prompt_ids(self.tokenizer, [""], self.device)

    @torch.no_grad()
    def encoded(self, key: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior mean and std of batch ``key`` (B, 4, h, w) and its captions' token ids (B, 77)."""
        if self._encoded is None or self._encoded[0] != key:
            batch = self.data(key)
            post = self.vae.encode(batch.images.to(self.device) * 2 - 1).latent_dist
            self._encoded = (
                key,
                post.mean,
                post.std,
                prompt_ids(self.tokenizer, batch.captions, self.device),
            )
        return self._encoded[1:]

    def step(self, step: int) -> dict[str, float]:
        mean, std, ids = self.encoded(step // self.reuse)
        g = step_generator(self.seed, step)
        drop = torch.rand(mean.shape[0], generator=g) < self.uncond_prob
        ids = torch.where(drop.to(self.device)[:, None], self.empty_ids, ids)  # (B, 77)
        with torch.set_grad_enabled(self.text_ema is not None):
            cond = self.text_encoder(ids)[0]  # (B, 77, D)
        with torch.no_grad():
            eps = torch.randn(mean.shape, generator=g).to(self.device)
            latents = (mean + std * eps) * self.vae.config.scaling_factor  # (B, 4, h, w)
        noise = torch.randn(latents.shape, generator=g).to(self.device)
        t = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (latents.shape[0],), generator=g
        )
        snr = self.snr[t].to(self.device)
        t = t.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        for group in self.opt.param_groups:
            group["lr"] = group["base_lr"] * self.lr_at(step)
        pred = self.unet(noisy, t, encoder_hidden_states=cond).sample
        weight = (
            torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr
        )  # min-SNR-gamma for epsilon prediction
        loss = (weight * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()
        self.optimise(loss, step)
        return {"loss": loss.item()}

    def optimise(self, loss: torch.Tensor, step: int) -> None:
        super().optimise(loss, step)
        if self.text_ema is not None:
            self.text_ema.update(self.text_encoder, step)

    def extra_state(self) -> dict[str, Any]:
        if self.text_ema is None:
            return {}
        return {"text_encoder": self.text_encoder.state_dict(), "text_ema": self.text_ema.shadow}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.text_ema is not None:
            self.text_encoder.load_state_dict(state["text_encoder"])
            self.text_ema.shadow = state["text_ema"]

    def ema_unet(self) -> UNet2DConditionModel:
        return self.ema_copy(lambda: UNet2DConditionModel(**self.unet.config))

    def ema_text_encoder(self) -> CLIPTextModel:
        """The text encoder the pipeline uses: its EMA weights when it trains, else the frozen one."""
        if self.text_ema is None:
            return self.text_encoder
        encoder = CLIPTextModel(self.text_encoder.config)
        self.text_ema.copy_to(encoder)
        return encoder.eval().to(self.device)

    def pipeline(self) -> StableDiffusionPipeline:
        return StableDiffusionPipeline(
            vae=self.vae,
            text_encoder=self.ema_text_encoder(),
            tokenizer=self.tokenizer,
            unet=self.ema_unet(),
            scheduler=DDIMScheduler(**SCHEDULER_CONFIG, set_alpha_to_one=False, steps_offset=1),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        ).to(self.device)

    def evaluate(self) -> dict[str, float]:
        from ..evaluate.sd_eval import evaluate_sd_quick  # deferred: PIL, scipy

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

    card_title = "Toy Stable Diffusion (diffusers StableDiffusionPipeline)"
    card_description = (
        "UNet2DConditionModel on 4x16x16 latents of the toy VAE, conditioned on a CLIP text tower started "
        "from the toy CLIP's and trained with the UNet (77 tokens) by cross-attention at 8x8 and 4x4 and by the "
        "attention-pooled caption added to the timestep embedding (diffusers' TextTimeEmbedding, "
        '`addition_embed_type="text"`), epsilon prediction, min-SNR-5 weighting, 10% caption dropout for '
        "classifier-free guidance, EMA 0.999 weights (stored in float16, loaded as float32); DDIM scheduler. "
        "Loads with `StableDiffusionPipeline.from_pretrained` and `StableDiffusionImg2ImgPipeline.from_pretrained`."
    )

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        """The whole pipeline folder (float16 weights) with its model card."""
        pipe = self.pipeline()
        save_pipeline_half(pipe, out_dir)
        write_model_card(out_dir, self.card_title, self.card_description, dict(pipe.unet.config), info)
