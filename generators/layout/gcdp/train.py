"""Train GCDP's joint denoiser on the toy world: image latents of the toy VAE by Gaussian diffusion and the
scene's exact semantic layout (per latent position: background, six shapes, emblem) by absorbing-state
categorical diffusion, one denoiser for both, conditioned on the caption through the toy SD's text encoder
(frozen).

The denoiser starts from the toy SD's UNet (:meth:`GCDPDenoiser.from_unet`): the image side is the toy SD's,
and the layout's own layers learn to read and write the layout and to steer the image. Each scene trains one of four tasks, so one model serves the
pipeline's three modes and its layout guidance: *joint* (latent and layout noised at the same step ``t``),
*layout given* (the layout clean, the latent noised: layout -> image), *image given* (the latent clean at
``t = 0``, the layout masked at a random step: image -> layout), *layout dropped* (the layout all ``[MASK]`` at
any ``t``: plain text -> image, the "no layout" prediction that layout guidance steps away from, as
InstructPix2Pix drops its second condition). Loss: min-SNR-weighted noise MSE + ``layout_weight`` x
cross-entropy of the masked positions' classes (the layout-dropped task trains the noise alone).

The layout is masked on the ``"noise"`` schedule (its masked share is the latent's noise share at the same
step), so it is revealed while the image's structure forms, not while the latent is still noise. The layout's
own layers (embedding, encoder with its zero-initialised residuals, class head) learn at ``lr``; the toy SD's
trunk, its input and output convolutions included, stays frozen by default (``trunk_lr_scale=0``), so the
image side starts as the toy SD and can move only as far as the layout's residuals move it. With
``trunk_lr_scale > 0`` the trunk learns at that share of ``lr`` after ``trunk_frozen_steps``.

With ``layout_colors=True`` each object's layout class is its (shape, colour) pair (50 classes:
:func:`toyworld.semantic.layout_classes`), so the layout says which colour goes where as well as which shape;
the denoiser's ``num_classes`` records it (:func:`toyworld.semantic.colors_of_num_classes`) for the pipeline,
the generators and the evaluation. Checkpoints also keep the trainer's options (:func:`pipeline_from_checkpoint`).

Registered as the toy trainer ``gcdp`` (``generators/plugin.py``), resumable like the others::

    workbench toy train gcdp --minutes 60 --threads 1 --no-export
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from toyworld.semantic import downsample_classes, layout_classes, semantic_maps
from toyworld.train.base import EMATrainer
from toyworld.train.data import prompt_ids, step_generator, train_batch
from toyworld.train.loop import EMA
from toyworld.train.model_card import write_model_card
from toyworld.train.registry import MODELS_DIR
from toyworld.train.storage import save_pipeline_half
from toyworld.train.unet import SCHEDULER_CONFIG
from toyworld.world import SceneBatch, ShapesWorld

from .model import GCDPDenoiser
from .pipeline import GCDPPipeline
from .scheduler import AbsorbingCategoricalScheduler

__all__ = ["GCDPTrainer", "TASKS", "pipeline_from_checkpoint"]

TASKS: tuple[str, ...] = ("joint", "layout_given", "image_given", "layout_dropped")
DEFAULT_TASK_PROBS: tuple[float, float, float, float] = (0.45, 0.3, 0.15, 0.1)


def load_toy_sd_parts(
    models_dir: Path = MODELS_DIR,
) -> tuple[AutoencoderKL, CLIPTextModel, CLIPTokenizer, UNet2DConditionModel]:
    """The toy SD's VAE, text encoder, tokenizer and UNet (``workbench toy train unet`` first)."""
    sd = models_dir / "sd"
    if not (sd / "model_index.json").is_file():
        raise FileNotFoundError(f"toy SD not found in {sd}: run `workbench toy train unet` first")
    vae = AutoencoderKL.from_pretrained(sd / "vae").eval().requires_grad_(False)
    text = CLIPTextModel.from_pretrained(sd / "text_encoder").eval().requires_grad_(False)
    tok = CLIPTokenizer.from_pretrained(sd / "tokenizer")
    unet = UNet2DConditionModel.from_pretrained(sd / "unet")
    return vae, text, tok, unet


class GCDPTrainer(EMATrainer):
    """Trains :class:`GCDPDenoiser`'s layout layers (the toy SD trunk frozen by default) with the toy SD's VAE
    and text encoder frozen.

    Args:
        seed: data and noise seed (batches from ``(seed, step)``: a resumed run sees the same data).
        batch_size: scenes per step (3/8 with one object, the rest 2-4, as the toy SD trained).
        lr: AdamW learning rate of the layout's layers (embedding, encoder, zero-initialised residuals, class
            head; warm-up over ``warmup_steps``).
        trunk_lr_scale: the toy SD trunk's learning rate as a share of ``lr`` (0: frozen, the default).
        trunk_frozen_steps: with ``trunk_lr_scale > 0``, steps the trunk stays frozen first.
        warmup_steps: linear learning-rate warm-up.
        layout_weight: weight of the layout's cross-entropy beside the noise MSE.
        task_probs: shares of the joint, layout-given, image-given and layout-dropped tasks (:data:`TASKS`).
        uncond_prob: caption dropout (classifier-free guidance).
        snr_gamma: min-SNR-gamma weighting of the noise loss.
        reuse: steps each rendered and encoded batch serves (fresh noise, masks, tasks each step).
        parts: ``(vae, text_encoder, tokenizer, unet)``; default the shipped toy SD's. The denoiser's trunk
            starts from ``unet``.
        layout_embed_dim: channels of the layout embedding.
        mask_schedule: the categorical scheduler's ``gamma(t)``.
        eval_batches: validation batches per task in :meth:`evaluate`.
        layout_colors: layouts of (shape, colour) classes (50) instead of shape classes (8).
    """

    name = "gcdp"
    module_key = "denoiser"
    recipe = "gcdp-frozen-toy-sd-zero-residual-layout-branch-layout-dropout"
    resumes_recipes = ("gcdp-frozen-toy-sd-zero-residual-layout-branch",)  # same modules, one more task
    eval_command = "python -m generators.layout.gcdp.evaluate --seeds 0 1 2"

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        lr: float = 1e-3,
        trunk_lr_scale: float = 0.0,
        trunk_frozen_steps: int = 0,
        warmup_steps: int = 100,
        layout_weight: float = 0.5,
        task_probs: tuple[float, ...] = DEFAULT_TASK_PROBS,
        uncond_prob: float = 0.1,
        snr_gamma: float = 5.0,
        reuse: int = 4,
        image_size: int = 64,
        device: str | None = None,
        parts: tuple[AutoencoderKL, CLIPTextModel, CLIPTokenizer, UNet2DConditionModel] | None = None,
        layout_embed_dim: int = 8,
        mask_schedule: str = "noise",
        eval_batches: int = 2,
        layout_colors: bool = False,
    ) -> None:
        if len(task_probs) != len(TASKS) or abs(sum(task_probs) - 1) > 1e-6 or min(task_probs) < 0:
            raise ValueError(f"task_probs {task_probs} must be {len(TASKS)} shares of {TASKS} summing to 1")
        if lr <= 0 or trunk_lr_scale < 0 or trunk_frozen_steps < 0 or warmup_steps < 0 or layout_weight < 0:
            raise ValueError(
                f"lr={lr}, trunk_lr_scale={trunk_lr_scale}, trunk_frozen_steps={trunk_frozen_steps}, "
                f"warmup_steps={warmup_steps}, layout_weight={layout_weight}: lr must be > 0, the others >= 0"
            )
        torch.manual_seed(seed)
        # the options a checkpoint needs to be read back (pipeline_from_checkpoint)
        self.options = {
            "layout_colors": bool(layout_colors),
            "trunk_lr_scale": float(trunk_lr_scale),
            "layout_embed_dim": int(layout_embed_dim),
            "mask_schedule": mask_schedule,
            "image_size": int(image_size),
        }
        self.layout_colors = bool(layout_colors)
        if self.layout_colors:  # other modules (50 classes): their own recipe, never resumed from shape runs
            self.recipe, self.resumes_recipes = f"{self.recipe}-colour-layout", ()
        num_classes = len(layout_classes(self.layout_colors))
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.lr, self.eval_batches = seed, batch_size, lr, eval_batches
        self.layout_weight, self.task_probs = layout_weight, torch.tensor(task_probs)
        self.uncond_prob, self.snr_gamma, self.reuse = uncond_prob, snr_gamma, max(1, int(reuse))
        self.world = ShapesWorld(image_size)
        self.vae, self.text_encoder, self.tokenizer, unet = (
            parts if parts is not None else load_toy_sd_parts()
        )
        self.factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.denoiser = GCDPDenoiser.from_unet(unet, num_classes, layout_embed_dim).to(self.device)
        self.noise_scheduler = DDPMScheduler(**unet_scheduler_config())
        cfg = self.noise_scheduler.config
        self.layout_scheduler = AbsorbingCategoricalScheduler(
            num_classes, cfg.num_train_timesteps, mask_schedule, cfg.beta_start, cfg.beta_end
        )
        self.vae.to(self.device)
        self.text_encoder.to(self.device)
        self.trunk_lr_scale, self.trunk_frozen_steps = float(trunk_lr_scale), int(trunk_frozen_steps)
        self.warmup_steps = int(warmup_steps)
        groups = [{"params": self.denoiser.layout_parameters(), "lr": lr, "scale": 1.0}]
        if self.trunk_lr_scale > 0:
            groups.append({"params": self.denoiser.trunk_parameters(), "lr": 0.0, "scale": trunk_lr_scale})
        else:
            for param in self.denoiser.trunk_parameters():
                param.requires_grad_(False)  # the toy SD's image side, as it was
        self.opt = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-2)
        self.ema = EMA(self.denoiser, 0.999)
        alphas = self.noise_scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)
        self._encoded: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ data
    def data(self, step: int, split: str = "train") -> SceneBatch:
        n1 = self.batch_size * 3 // 8
        if split == "train":
            one = train_batch(self.world, self.seed, 2 * step, n1, n_objects=1, entity_prob=0.15)
            many = train_batch(
                self.world, self.seed, 2 * step + 1, self.batch_size - n1, n_objects=(2, 4), entity_prob=0.1
            )
        else:
            one = self.world.batch(self.seed, split, 2 * step * self.batch_size, n1, n_objects=1)
            many = self.world.batch(
                self.seed, split, (2 * step + 1) * self.batch_size, self.batch_size - n1, n_objects=(2, 4)
            )
        return SceneBatch(
            one.scenes + many.scenes, torch.cat([one.images, many.images]), torch.cat([one.masks, many.masks])
        )

    def layouts_of(self, batch: SceneBatch) -> torch.Tensor:
        """The scenes' semantic layouts at the latent resolution `(B, h, w)`."""
        maps = semantic_maps(batch.scenes, batch.masks, colors=self.layout_colors)  # (B, H, W)
        return downsample_classes(maps, self.factor, len(layout_classes(self.layout_colors)))

    @functools.cached_property
    def empty_states(self) -> torch.Tensor:
        with torch.no_grad():
            return self.text_encoder(prompt_ids(self.tokenizer, [""], self.device))[0]  # (1, 77, D)

    @torch.no_grad()
    def encode(self, batch: SceneBatch) -> tuple[torch.Tensor, ...]:
        """Posterior mean and std `(B, 4, h, w)`, caption states `(B, 77, D)`, layouts `(B, h, w)`."""
        post = self.vae.encode(batch.images.to(self.device) * 2 - 1).latent_dist
        states = self.text_encoder(prompt_ids(self.tokenizer, batch.captions, self.device))[0]
        return post.mean, post.std, states, self.layouts_of(batch).to(self.device)

    def encoded(self, key: int) -> tuple[torch.Tensor, ...]:
        if self._encoded is None or self._encoded[0] != key:
            self._encoded = (key, *self.encode(self.data(key)))
        return self._encoded[1:]

    # ------------------------------------------------------------------ the objective
    def loss(
        self,
        mean,
        std,
        states,
        layouts,
        g: torch.Generator,
        tasks: torch.Tensor | None = None,
        drop: bool = True,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        b = mean.shape[0]
        if tasks is None:
            tasks = torch.multinomial(self.task_probs, b, replacement=True, generator=g)  # (B,) task ids
        if drop:
            dropped = torch.rand(b, generator=g) < self.uncond_prob
            states = torch.where(dropped.to(self.device)[:, None, None], self.empty_states, states)
        T = self.noise_scheduler.config.num_train_timesteps
        t = torch.randint(0, T, (b,), generator=g)
        t_img = torch.where(tasks == 2, torch.zeros_like(t), t)  # image given: the clean latent at t = 0
        t_lay = torch.where(tasks == 1, torch.full_like(t, -1), t)  # layout given: nothing masked
        t_lay = torch.where(tasks == 2, torch.randint(0, T, (b,), generator=g), t_lay)
        with torch.no_grad():
            eps = torch.randn(mean.shape, generator=g).to(self.device)
            latents = (mean + std * eps) * self.vae.config.scaling_factor  # (B, 4, h, w)
            noise = torch.randn(latents.shape, generator=g).to(self.device)
            noisy = self.noise_scheduler.add_noise(latents, noise, t_img.to(self.device))
            if (tasks == 2).any():  # the image-given task sees the clean latent
                noisy = torch.where((tasks == 2).to(self.device)[:, None, None, None], latents, noisy)
            masked = self.layout_scheduler.add_noise(layouts, t_lay, generator=g)  # (B, h, w)
            dropped_layout = (tasks == 3).to(self.device)[:, None, None]  # layout dropped: all [MASK]
            masked = torch.where(
                dropped_layout, torch.full_like(masked, self.layout_scheduler.mask_id), masked
            )
        out = self.denoiser(noisy, masked, t_img.to(self.device), encoder_hidden_states=states)
        snr = self.snr[t_img].to(self.device)
        weight = torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr
        per_image = F.mse_loss(out.sample, noise, reduction="none").flatten(1).mean(1)  # (B,)
        image_keep = (tasks != 2).to(self.device).float()  # the image-given task has no image to denoise
        image_loss = (weight * per_image * image_keep).sum() / image_keep.sum().clamp(min=1)
        # the masked cells' classes are the loss, save for the layout-dropped task (no layout to predict)
        hidden = (masked == self.layout_scheduler.mask_id) & ~dropped_layout  # (B, h, w)
        ce = F.cross_entropy(out.logits.float(), layouts, reduction="none")  # (B, h, w)
        layout_loss = (ce * hidden).sum() / hidden.sum().clamp(min=1)
        with torch.no_grad():
            acc = ((out.logits.argmax(1) == layouts) & hidden).sum() / hidden.sum().clamp(min=1)
        loss = image_loss + self.layout_weight * layout_loss
        return loss, {
            "loss": loss.item(),
            "image_loss": image_loss.item(),
            "layout_ce": layout_loss.item(),
            "layout_acc": acc.item(),
        }

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return [p for group in self.opt.param_groups for p in group["params"]]

    def lr_at(self, step: int) -> float:
        return min(1.0, (step + 1) / max(1, self.warmup_steps))

    def step(self, step: int) -> dict[str, float]:
        mean, std, states, layouts = self.encoded(step // self.reuse)
        g = step_generator(self.seed, step)
        for group in self.opt.param_groups:
            frozen = group["scale"] < 1.0 and step < self.trunk_frozen_steps
            group["lr"] = 0.0 if frozen else self.lr * group["scale"] * self.lr_at(step)
        self.denoiser.train()
        loss, logs = self.loss(mean, std, states, layouts, g)
        self.optimise(loss, step)
        return logs

    def extra_state(self) -> dict[str, Any]:
        return {"options": dict(self.options)}

    # ------------------------------------------------------------------ evaluation and export
    def ema_denoiser(self) -> GCDPDenoiser:
        return self.ema_copy(lambda: GCDPDenoiser.from_config(self.denoiser.config)).to(self.device)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out losses of the EMA weights at fixed noise, per task (validation scenes)."""
        denoiser, self.denoiser = self.denoiser, self.ema_denoiser()
        try:
            out: dict[str, float] = {}
            for task_id, task in enumerate(TASKS):
                rows = []
                for k in range(self.eval_batches):
                    g = step_generator(self.seed, k, salt=31 + task_id)
                    tasks = torch.full((self.batch_size,), task_id)
                    rows.append(self.loss(*self.encode(self.data(k, "val")), g, tasks=tasks, drop=False)[1])
                keys = ("layout_ce", "layout_acc") if task == "image_given" else ("image_loss",)
                if task == "joint":
                    keys = ("image_loss", "layout_ce", "layout_acc")
                for key in keys:
                    out[f"val_{task}_{key}"] = sum(r[key] for r in rows) / len(rows)
        finally:
            self.denoiser = denoiser
        return out

    def pipeline(self):
        return GCDPPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            denoiser=self.ema_denoiser(),
            scheduler=DDIMScheduler.from_config(unet_scheduler_config(inference=True)),
            layout_scheduler=self.layout_scheduler,
        )

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(GCDPDenoiser.from_pretrained(export_dir / "denoiser"))

    card_title = "Toy GCDP (joint image and semantic-layout diffusion)"
    card_description = (
        "GCDPDenoiser: the toy SD's UNet (frozen, its own input and output convolutions) as the image side, "
        "and the layout's own layers: a class embedding read with the noisy latent by a small encoder that adds "
        "into the UNet's skip connections and middle block through zero-initialised 1x1 convolutions "
        "(ControlNet's coupling), and a class head on the UNet's last features. Over the toy VAE's 4x16x16 "
        "latents and the scene's 16x16 semantic layout (background, six shapes, emblem), Gaussian (DDIM) and "
        "absorbing categorical diffusion on the same steps (the layout masked on the latent's noise share); "
        "caption through the toy SD's text encoder (frozen). Tasks per scene: joint 0.45, layout given 0.3, "
        "image given 0.15, layout dropped (all [MASK] at any step: text -> image, for layout guidance) 0.1; the "
        "layout's layers at lr 1e-3. Sample with `layout_guidance_scale` > 1 to pull the image towards its "
        "layout. Loads with `GCDPPipeline.from_pretrained`."
    )

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        pipe = self.pipeline()
        save_pipeline_half(pipe, out_dir)
        description = self.card_description
        if self.layout_colors:
            description += (
                " Colour layouts: each object's class is its (shape, colour) pair (background, 6 shapes x 8 "
                f"colours, emblem: 50 classes); the trunk learns at {self.options['trunk_lr_scale']} x lr "
                f"after {self.trunk_frozen_steps} frozen steps."
            )
        write_model_card(out_dir, self.card_title, description, dict(pipe.denoiser.config), info)


def pipeline_from_checkpoint(state: dict[str, Any], parts=None) -> GCDPPipeline:
    """The EMA weights of a :func:`toyworld.train.loop.run_training` checkpoint's ``state`` as a pipeline (the
    trainer built with the options the checkpoint records; shape layouts and a frozen trunk for older ones)."""
    trainer_state = state["trainer"]
    options = dict(trainer_state.get("options", {}))
    if "options" not in trainer_state:  # older checkpoints: the class count tells shape or colour layouts
        options["layout_colors"] = trainer_state["denoiser"]["layout_head.out.bias"].shape[0] == len(
            layout_classes(True)
        )
    trainer = GCDPTrainer(parts=parts, **options)
    trainer.denoiser.load_state_dict(trainer_state["denoiser"])
    trainer.ema.shadow = trainer_state["ema"]
    return trainer.pipeline()


def unet_scheduler_config(inference: bool = False) -> dict[str, Any]:
    """The toy SD's noise schedule (DDPM for training, DDIM with its offsets for sampling)."""
    extra = dict(set_alpha_to_one=False, steps_offset=1) if inference else {}
    return {**SCHEDULER_CONFIG, **extra}
