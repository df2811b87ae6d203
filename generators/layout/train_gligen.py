"""Fine-tune GLIGEN-style grounding on the toy world: the toy SD's UNet gains gated self-attention over
grounding tokens (phrase embedding + box), trained on shapes-world scenes, whose boxes come free.

Only the new layers train (``position_net`` and every ``fuser``, GLIGEN's recipe); the toy SD stays
frozen. The trainer follows the toy training loop's protocol (``step`` / ``evaluate`` / ``state_dict`` /
``load_state_dict`` / ``export`` / ``warm_start``), so ``run_training`` checkpoints and resumes it::

    workbench layout train-gligen --minutes 60          # resumes from ~/.cache/workbench/toy-train/gligen

The export is a ``StableDiffusionGLIGENPipeline`` folder (safetensors) in
``generators/layout/models/gligen``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from toyworld.train.data import encode_prompts, step_generator, train_batch
from toyworld.train.loop import EMA, default_work_dir, run_training
from toyworld.train.model_card import write_model_card
from toyworld.train.registry import MODELS_DIR
from toyworld.train.storage import save_pipeline_half
from toyworld.world import SceneBatch, ShapesWorld
from workbench.sampling import WORKBENCH_SAMPLING

from .gligen.adapter import is_adapter_folder, load_grounding_into, save_grounding_adapter
from .gligen.model import GLIGEN_DIR, gated_unet_from, grounding_parameters
from .gligen.pipeline import generate_grounded, gligen_pipeline_from
from .planner import ShapesGrammarPlanner

logger = logging.getLogger(__name__)

MAX_OBJS = 30  # StableDiffusionGLIGENPipeline pads to 30 grounding tokens; training pads the same way


def load_toy_sd(models_dir: Path | None = None) -> Any:
    """The trained toy SD pipeline (``workbench toy train unet`` first)."""
    from diffusers import StableDiffusionPipeline

    folder = (models_dir or MODELS_DIR) / "sd"
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(f"toy SD not found in {folder}: run `workbench toy train unet` first")
    return StableDiffusionPipeline.from_pretrained(
        str(folder),
        local_files_only=True,
        use_safetensors=True,
        safety_checker=None,
        requires_safety_checker=False,
    )


class GligenTrainer:
    """Trains the grounding layers of a gated copy of the toy SD's UNet.

    Args:
        seed: data and initialisation seed (batches are drawn from ``(seed, step)``: resumes exactly).
        batch_size: scenes per step (1-4 objects each).
        lr: AdamW learning rate of the grounding layers (warm-up over 200 steps).
        uncond_prob: caption dropout (classifier-free guidance).
        grounding_drop: share of scenes trained without grounding tokens (GLIGEN drops them too).
        snr_gamma: min-SNR-gamma loss weighting.
        sd_pipe: the base pipeline (default: the shipped toy SD); tests pass tiny random components.
        base_name: what the base loads from by name (``"toy"`` for the default base): the export is then a
            grounding adapter naming it (the grounding layers only); ``None`` with ``sd_pipe`` exports a
            full ``StableDiffusionGLIGENPipeline`` folder.
        device: ``cpu`` (default) or ``cuda``.
        eval_images: two-object prompts generated and judged by :meth:`evaluate` (when the judge exists).
    """

    name = "gligen"
    export_name = "gligen"

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        lr: float = 1e-4,
        uncond_prob: float = 0.1,
        grounding_drop: float = 0.1,
        snr_gamma: float = 5.0,
        sd_pipe: Any = None,
        base_name: str | None = None,
        device: str | None = None,
        eval_images: int = 16,
    ) -> None:
        from diffusers import DDPMScheduler

        torch.manual_seed(seed)
        self.seed, self.batch_size, self.lr = seed, batch_size, lr
        self.uncond_prob, self.grounding_drop, self.snr_gamma = uncond_prob, grounding_drop, snr_gamma
        self.device = torch.device(device or "cpu")
        self.eval_images = eval_images
        base = sd_pipe if sd_pipe is not None else load_toy_sd()
        self.base_name = base_name if sd_pipe is not None else "toy"
        self.base = base
        self.vae = base.vae.eval().requires_grad_(False).to(self.device)
        self.text_encoder = base.text_encoder.eval().requires_grad_(False).to(self.device)
        self.tokenizer = base.tokenizer
        self.unet = gated_unet_from(base.unet).to(self.device)
        self.unet.requires_grad_(False)
        self.params = grounding_parameters(self.unet)
        for p in self.params:
            p.requires_grad_(True)
        self.unet.train()
        image_size = base.unet.config.sample_size * base.vae_scale_factor
        self.world = ShapesWorld(image_size)
        self.noise_scheduler = DDPMScheduler.from_config(base.scheduler.config)
        self.opt = torch.optim.AdamW(self.params, lr=lr, weight_decay=1e-2)
        self.ema = EMA(self.unet, 0.999)
        alphas = self.noise_scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)

    # ------------------------------------------------------------------ data
    def data(self, step: int, split: str = "train") -> SceneBatch:
        if split == "train":
            return train_batch(
                self.world, self.seed, step, self.batch_size, n_objects=(1, 4), entity_prob=0.1
            )
        return self.world.batch(self.seed, split, step * self.batch_size, self.batch_size, n_objects=(1, 4))

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states `(B, 77, D)` and pooled embeddings `(B, D)` of ``texts``."""
        out = encode_prompts(self.tokenizer, self.text_encoder, texts, self.device)
        return out[0], out.pooler_output

    @torch.no_grad()
    def grounding(self, batch: SceneBatch, keep: torch.Tensor) -> dict[str, torch.Tensor]:
        """GLIGEN inputs: ``boxes`` `(B, 30, 4)`, ``positive_embeddings`` `(B, 30, D)`, ``masks`` `(B, 30)`;
        scenes with ``keep[b] == False`` get no grounding token."""
        b = len(batch.scenes)
        dim = self.unet.config.cross_attention_dim
        boxes = torch.zeros(b, MAX_OBJS, 4, device=self.device)
        embeds = torch.zeros(b, MAX_OBJS, dim, device=self.device)
        masks = torch.zeros(b, MAX_OBJS, device=self.device)
        phrases, where = [], []
        for i, scene in enumerate(batch.scenes):
            for k, obj in enumerate(scene.objects[:MAX_OBJS]):
                phrases.append(obj.phrase(with_position=False))
                where.append((i, k))
                boxes[i, k] = torch.tensor(obj.box)
                masks[i, k] = float(keep[i])
        if phrases:
            _, pooled = self.encode_text(phrases)  # (P, D)
            for (i, k), e in zip(where, pooled):
                embeds[i, k] = e
        return {"boxes": boxes, "positive_embeddings": embeds, "masks": masks}

    # ------------------------------------------------------------------ training
    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 200)

    def loss(self, batch: SceneBatch, g: torch.Generator, train: bool = True) -> torch.Tensor:
        n = len(batch.scenes)
        drop_text = torch.rand(n, generator=g) < (self.uncond_prob if train else 0.0)
        keep = torch.rand(n, generator=g) >= (self.grounding_drop if train else 0.0)
        captions = ["" if d else c for c, d in zip(batch.captions, drop_text.tolist())]
        with torch.no_grad():
            images = batch.images.to(self.device) * 2 - 1  # (B, 3, H, W) in [-1, 1]
            latents = self.vae.encode(images).latent_dist.sample(generator=g) * self.vae.config.scaling_factor
            cond, _ = self.encode_text(captions)  # (B, 77, D)
            gligen = self.grounding(batch, keep)
        noise = torch.randn(latents.shape, generator=g).to(self.device)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (n,), generator=g)
        noisy = self.noise_scheduler.add_noise(latents, noise, t.to(self.device))
        pred = self.unet(
            noisy, t.to(self.device), encoder_hidden_states=cond, cross_attention_kwargs={"gligen": gligen}
        ).sample
        snr = self.snr[t]
        weight = (torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr).to(self.device)
        return (weight * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()

    def step(self, step: int) -> dict[str, float]:
        g = step_generator(self.seed, step, salt=11)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        loss = self.loss(self.data(step), g)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.ema.update(self.unet, step)
        return {"loss": loss.item()}

    # ------------------------------------------------------------------ evaluation and export
    def ema_unet(self) -> Any:
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_config(self.unet.config)
        self.ema.copy_to(unet)
        return unet.to(self.device).eval()

    def pipeline(self, unet: Any = None) -> Any:
        """The grounded DDIM pipeline on ``unet`` (default: a fresh copy of the EMA weights)."""
        from diffusers import DDIMScheduler

        pipe = gligen_pipeline_from(self.base, unet if unet is not None else self.ema_unet())
        pipe.scheduler = DDIMScheduler.from_config(self.base.scheduler.config)
        return pipe

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out denoising loss (EMA weights, fixed noise), plus, when the toy judge exists, the share of
        two-object prompts with both objects in their boxes and the mean IoU, over ``eval_images`` prompts."""
        n_images = self.eval_images
        unet, self.unet = self.unet, self.ema_unet()
        try:
            g = step_generator(self.seed, 0, salt=12)
            losses = [self.loss(self.data(k, split="val"), g, train=False).item() for k in range(2)]
        finally:
            self.unet = unet
        out = {"val_loss": sum(losses) / len(losses)}
        from .experiment import load_judge  # deferred: PIL

        judge = load_judge(None, required=False)
        if judge is not None and n_images > 0:
            from .scoring import RequestedObject, score_image, summarize_scores  # deferred: scipy

            pipe = self.pipeline()
            planner = ShapesGrammarPlanner()
            scenes = [self.world.scene(4242, "test", i, n_objects=2) for i in range(n_images)]
            prompts = [s.caption() for s in scenes]

            images = generate_grounded(
                pipe,
                prompts,
                [planner.plan(p) for p in prompts],
                [torch.Generator().manual_seed(i) for i in range(n_images)],
                num_inference_steps=20,
                guidance_scale=WORKBENCH_SAMPLING.guidance_scale,
            )
            dets = judge.detect(images)
            scores = [
                score_image(
                    p, [RequestedObject(o.parsed.shape, o.parsed.color, o.box) for o in planner.objects(p)], d
                )
                for p, d in zip(prompts, dets)
            ]
            summary = summarize_scores(scores)
            out.update(
                {"two_object_in_box": summary["all_in_box"], "two_object_mean_iou": summary["mean_iou"]}
            )
        return out

    def warm_start(self, export_dir: Path) -> None:
        from diffusers import UNet2DConditionModel

        if is_adapter_folder(export_dir):
            load_grounding_into(self.unet, export_dir)
        else:
            exported = UNet2DConditionModel.from_pretrained(export_dir / "unet").to(self.device)
            self.unet.load_state_dict(exported.state_dict())
        self.ema.shadow = {k: v.detach().clone().float().cpu() for k, v in self.unet.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        names = {n for n, p in self.unet.named_parameters() if p.requires_grad}
        return {
            "grounding": {k: v for k, v in self.unet.state_dict().items() if k in names},
            "opt": self.opt.state_dict(),
            "ema": self.ema.shadow,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(n for n, p in self.unet.named_parameters() if p.requires_grad) - set(state["grounding"])
        if missing:
            raise ValueError(
                f"checkpoint lacks grounding weights {sorted(missing)[:3]}...; it is not a GLIGEN checkpoint"
            )
        self.unet.load_state_dict(state["grounding"], strict=False)
        self.opt.load_state_dict(state["opt"])
        self.ema.shadow = state["ema"]

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        """A grounding adapter naming the base (when the base has a name), else a full pipeline folder."""
        unet = self.ema_unet()
        if self.base_name is not None:
            save_grounding_adapter(unet, out_dir, self.base_name)
            form = (
                f"Stored as a grounding adapter (grounding.safetensors, float16, loaded as float32) on the base "
                f"`{self.base_name}`; `load_gligen_pipeline` assembles the `StableDiffusionGLIGENPipeline`, whose "
                "`save_pretrained` writes the full folder."
            )
        else:
            save_pipeline_half(self.pipeline(unet), out_dir)
            form = "UNet and VAE stored in float16, loaded as float32. Loads with `StableDiffusionGLIGENPipeline.from_pretrained`."
        write_model_card(
            Path(out_dir),
            "Toy GLIGEN (diffusers StableDiffusionGLIGENPipeline)",
            "The toy SD's UNet with attention_type='gated': GLIGEN's gated self-attention over grounding tokens "
            "(pooled toy-CLIP phrase embedding + Fourier-embedded box, 30 slots), trained on shapes-world scenes "
            "with their ground-truth boxes; only position_net and the fusers train, the toy SD is frozen; EMA "
            "0.999 weights; 10% caption and grounding dropout. " + form,
            {k: v for k, v in unet.config.items() if not k.startswith("_")},
            info,
        )


def train_gligen(
    minutes: float | None = None,
    max_steps: int = 10**9,
    seed: int = 0,
    work_dir: Path | None = None,
    export_dir: Path = GLIGEN_DIR,
    export: bool = True,
    fresh: bool = False,
    eval_every: int = 500,
    **trainer_kwargs: Any,
) -> dict[str, Any]:
    """Train (or resume) the toy GLIGEN with the toy training loop, then export it."""
    import platform

    trainer = GligenTrainer(seed=seed, **trainer_kwargs)
    result = run_training(
        trainer,
        work_dir or default_work_dir("gligen"),
        max_steps=max_steps,
        minutes=minutes,
        eval_every=eval_every,
        export_dir=None if fresh else export_dir,
    )
    if export:
        info = {
            "steps": result["step"],
            "minutes": round(result["minutes"], 1),
            "device": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "seed": seed,
            "command": f"workbench layout train-gligen --seed {seed} --lr {trainer.lr:g} --batch-size {trainer.batch_size}",
            "metrics": {k: v for k, v in result.items() if k not in ("step", "minutes")},
            "eval_command": "workbench run examples/layout_eval.yaml",
        }
        trainer.export(export_dir, info)
        logger.info("gligen: exported to %s", export_dir)
    return result
