"""Fine-tune GLIGEN-style grounding on the toy world: the toy SD's UNet gains gated self-attention over
grounding tokens (phrase embedding + box), trained on shapes-world scenes, whose boxes come free.

Only the new layers train (``position_net`` and every ``fuser``, GLIGEN's recipe); the toy SD stays
frozen. The shapes world's captions say where each object is ("... in the top left"), which leaves the
boxes nothing to add; so a share of the scenes is captioned without position words (``position_free``),
some of them by class words only (``class_words``: "a large circle"), and only the grounding tokens
(phrase + box) say where the objects go. The gates start at 0 as in the paper but learn at ``gate_lr``, so
that they open within thousands of steps rather than GLIGEN's hundreds of thousands; their magnitudes
(:func:`~generators.layout.gligen.gates.gate_magnitudes`) are logged at every step and evaluation. The trainer follows the toy training loop's protocol (``step`` / ``evaluate`` / ``state_dict`` /
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

from .gligen.adapter import is_adapter_folder, load_grounding_into, read_adapter, save_grounding_adapter
from .gligen.box_attention import add_box_attention, checkpoint_has_box_attention
from .gligen.gates import gate_magnitudes, gate_parameters
from .gligen.model import GLIGEN_DIR, gated_unet_from, grounding_parameters
from .gligen.pipeline import BOX_ATTENTION_BETA, gligen_pipeline_from
from .gligen.positional import (
    add_token_positions,
    checkpoint_has_token_positions,
    is_positional_name,
    set_fusers_enabled,
)
from .gligen_recipe import RECIPE

logger = logging.getLogger(__name__)

MAX_OBJS = 30  # StableDiffusionGLIGENPipeline pads to 30 grounding tokens; training pads the same way
WARMUP_STEPS = 100  # linear learning-rate warm-up


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
        lr: AdamW learning rate of the grounding layers (warm-up over :data:`WARMUP_STEPS`).
        gate_lr: learning rate of the fusers' gates ``alpha_attn`` / ``alpha_dense`` (no weight decay).
        position_free: share of scenes captioned without position words (the boxes alone place them).
        class_words: share of scenes captioned by class words only, without positions ("a large circle");
            part of ``position_free``.
        uncond_prob: caption dropout (classifier-free guidance).
        grounding_drop: share of scenes trained without grounding tokens (GLIGEN drops them too).
        snr_gamma: min-SNR-gamma loss weighting.
        min_timestep: training timesteps are drawn from ``[min_timestep, T)``: the noisy steps where the
            layout forms, the ones GLIGEN's scheduled sampling grounds (``eval_beta`` of the sampling steps).
        sd_pipe: the base pipeline (default: the shipped toy SD); tests pass tiny random components.
        base_name: what the base loads from by name (``"toy"`` for the default base): the export is then a
            grounding adapter naming it (the grounding layers only); ``None`` with ``sd_pipe`` exports a
            full ``StableDiffusionGLIGENPipeline`` folder.
        device: ``cpu`` (default) or ``cuda``.
        eval_images: two-object prompts generated and judged by :meth:`evaluate` (when the judge exists).
        eval_beta: share of the sampling steps with grounding tokens in :meth:`evaluate` (``None``: every step
            for box-masked grounding attention, as generation and ``eval-gligen`` sample it; the recipe's
            ``eval_beta`` for the paper's fusers).
        eval_steps: DDIM steps of the images :meth:`evaluate` generates.
        no_words: share of scenes whose caption is emptied while their grounding tokens stay (besides the
            ``uncond_prob`` dropout): only the boxes and phrases say what and where.
        token_positions: fusers whose visual tokens carry their grid cell's Fourier box embedding
            (:mod:`generators.layout.gligen.positional`); ``False``: the paper's fuser.
        box_attention: visual tokens attend only to the grounding tokens whose box covers their grid cell
            (:mod:`generators.layout.gligen.box_attention`); ``False``: the paper's unrestricted attention.
        class_phrases: scenes captioned by class words (``class_words``) are grounded by their objects' class
            phrases ("a large circle", what ``eval-gligen --words class`` grounds) instead of their full
            phrases ("a large striped red circle"); ``False``: every scene by full phrases.
    """

    name = "gligen"
    export_name = "gligen"
    recipe = "position-free-captions"

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = RECIPE.batch_size,
        lr: float = RECIPE.lr,
        gate_lr: float = RECIPE.gate_lr,
        position_free: float = RECIPE.position_free,
        class_words: float = RECIPE.class_words,
        uncond_prob: float = RECIPE.uncond_prob,
        grounding_drop: float = RECIPE.grounding_drop,
        snr_gamma: float = RECIPE.snr_gamma,
        min_timestep: int = RECIPE.min_timestep,
        sd_pipe: Any = None,
        base_name: str | None = None,
        device: str | None = None,
        eval_images: int = RECIPE.eval_images,
        eval_beta: float | None = None,
        eval_steps: int = RECIPE.eval_steps,
        token_positions: bool = False,
        no_words: float = RECIPE.no_words,
        box_attention: bool = False,
        class_phrases: bool = RECIPE.class_phrases,
    ) -> None:
        from diffusers import DDPMScheduler

        if not 0.0 <= class_words <= position_free <= 1.0:
            raise ValueError(
                f"caption shares must satisfy 0 <= class_words <= position_free <= 1, got "
                f"class_words={class_words}, position_free={position_free}"
            )
        torch.manual_seed(seed)
        self.seed, self.batch_size, self.lr, self.gate_lr = seed, batch_size, lr, gate_lr
        self.position_free, self.class_words = position_free, class_words
        if eval_beta is None:
            eval_beta = BOX_ATTENTION_BETA if box_attention else RECIPE.eval_beta
        self.eval_beta, self.eval_steps, self.min_timestep = eval_beta, eval_steps, min_timestep
        self.uncond_prob, self.grounding_drop, self.snr_gamma = uncond_prob, grounding_drop, snr_gamma
        self.device = torch.device(device or "cpu")
        self.eval_images = eval_images
        base = sd_pipe if sd_pipe is not None else load_toy_sd()
        self.base_name = base_name if sd_pipe is not None else "toy"
        self.base = base
        self.vae = base.vae.eval().requires_grad_(False).to(self.device)
        self.text_encoder = base.text_encoder.eval().requires_grad_(False).to(self.device)
        self.tokenizer = base.tokenizer
        if not 0.0 <= no_words <= 1.0:
            raise ValueError(f"no_words is a share of the scenes in [0, 1], got {no_words}")
        self.no_words = no_words
        self.token_positions, self.box_attention = token_positions, box_attention
        self.class_phrases = class_phrases
        self.unet = gated_unet_from(base.unet, token_positions, box_attention).to(self.device)
        self.unet.requires_grad_(False)
        self.params = grounding_parameters(self.unet)
        for p in self.params:
            p.requires_grad_(True)
        gates = {id(p) for _, p in gate_parameters(self.unet)}
        self.unet.train()
        image_size = base.unet.config.sample_size * base.vae_scale_factor
        self.world = ShapesWorld(image_size)
        self.noise_scheduler = DDPMScheduler.from_config(base.scheduler.config)
        if not 0 <= min_timestep < self.noise_scheduler.config.num_train_timesteps:
            raise ValueError(
                f"min_timestep must lie in [0, {self.noise_scheduler.config.num_train_timesteps}), got {min_timestep}"
            )
        self.opt = torch.optim.AdamW(
            [
                {"params": [p for p in self.params if id(p) not in gates], "weight_decay": 1e-2},
                {"params": [p for p in self.params if id(p) in gates], "weight_decay": 0.0},
            ],
            lr=lr,
        )
        self._stock_scores: dict[str, float | None] | None = None  # the baseline does not train
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

    def captions(self, batch: SceneBatch, g: torch.Generator) -> list[str]:
        """One caption per scene: by class words without positions (share ``class_words``), all words
        without positions (up to ``position_free``), or the world's caption with positions; then a share
        ``no_words`` of them emptied (the grounding tokens alone say what and where)."""
        return self.caption_draws(batch, g)[0]

    def caption_draws(self, batch: SceneBatch, g: torch.Generator) -> tuple[list[str], list[bool]]:
        """:meth:`captions` and, per scene, whether it was drawn to be captioned by class words."""
        u = torch.rand(len(batch.scenes), generator=g).tolist()
        by_class = [x < self.class_words for x in u]
        if self.no_words > 0:  # a second draw only then: other recipes keep their random streams
            silent = (torch.rand(len(batch.scenes), generator=g) < self.no_words).tolist()
            return ["" if q else c for c, q in zip(self._captions(batch, u), silent)], by_class
        return self._captions(batch, u), by_class

    def _captions(self, batch: SceneBatch, u: list[float]) -> list[str]:
        return [
            s.caption(with_position=False, words="class")
            if x < self.class_words
            else s.caption(with_position=False)
            if x < self.position_free
            else s.caption()
            for s, x in zip(batch.scenes, u)
        ]

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states `(B, 77, D)` and pooled embeddings `(B, D)` of ``texts``."""
        out = encode_prompts(self.tokenizer, self.text_encoder, texts, self.device)
        return out[0], out.pooler_output

    @torch.no_grad()
    def grounding(
        self, batch: SceneBatch, keep: torch.Tensor, by_class: list[bool] | None = None
    ) -> dict[str, torch.Tensor]:
        """GLIGEN inputs: ``boxes`` `(B, 30, 4)`, ``positive_embeddings`` `(B, 30, D)`, ``masks`` `(B, 30)`;
        scenes with ``keep[b] == False`` get no grounding token; with ``class_phrases``, scenes with
        ``by_class[b]`` are grounded by their objects' class phrases, the others by their full phrases."""
        b = len(batch.scenes)
        dim = self.unet.config.cross_attention_dim
        boxes = torch.zeros(b, MAX_OBJS, 4, device=self.device)
        embeds = torch.zeros(b, MAX_OBJS, dim, device=self.device)
        masks = torch.zeros(b, MAX_OBJS, device=self.device)
        phrases, where = [], []
        for i, scene in enumerate(batch.scenes):
            as_class = self.class_phrases and by_class is not None and by_class[i]
            for k, obj in enumerate(scene.objects[:MAX_OBJS]):
                phrases.append(
                    obj.class_phrase(with_position=False) if as_class else obj.phrase(with_position=False)
                )
                where.append((i, k))
                boxes[i, k] = torch.tensor(obj.box)
                masks[i, k] = float(keep[i])
        if phrases:
            _, pooled = self.encode_text(phrases)  # (P, D)
            for (i, k), e in zip(where, pooled):
                embeds[i, k] = e
        return {"boxes": boxes, "positive_embeddings": embeds, "masks": masks}

    # ------------------------------------------------------------------ training
    def lr_at(self, step: int, base: float | None = None) -> float:
        return (self.lr if base is None else base) * min(1.0, (step + 1) / WARMUP_STEPS)

    def loss(
        self,
        batch: SceneBatch,
        g: torch.Generator,
        train: bool = True,
        grounded: bool = True,
        with_position: bool = False,
    ) -> torch.Tensor:
        """Min-SNR-weighted noise-prediction loss; held out (``train=False``): no dropout, position-free
        captions (``with_position``: the world's captions, which say where each object is), grounding
        tokens for every scene or (``grounded=False``) for none."""
        n = len(batch.scenes)
        drop_text = torch.rand(n, generator=g) < (self.uncond_prob if train else 0.0)
        keep = torch.rand(n, generator=g) >= (self.grounding_drop if train else 0.0 if grounded else 2.0)
        texts, by_class = (
            self.caption_draws(batch, g)
            if train
            else ([s.caption(with_position=with_position) for s in batch.scenes], None)
        )
        captions = ["" if d else c for c, d in zip(texts, drop_text.tolist())]
        with torch.no_grad():
            images = batch.images.to(self.device) * 2 - 1  # (B, 3, H, W) in [-1, 1]
            latents = self.vae.encode(images).latent_dist.sample(generator=g) * self.vae.config.scaling_factor
            cond, _ = self.encode_text(captions)  # (B, 77, D)
            gligen = self.grounding(batch, keep, by_class)
        noise = torch.randn(latents.shape, generator=g).to(self.device)
        t = torch.randint(
            self.min_timestep, self.noise_scheduler.config.num_train_timesteps, (n,), generator=g
        )
        noisy = self.noise_scheduler.add_noise(latents, noise, t.to(self.device))
        pred = self.unet(
            noisy, t.to(self.device), encoder_hidden_states=cond, cross_attention_kwargs={"gligen": gligen}
        ).sample
        snr = self.snr[t]
        weight = (torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr).to(self.device)
        return (weight * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()

    def step(self, step: int) -> dict[str, float]:
        g = step_generator(self.seed, step, salt=11)
        for group, base in zip(self.opt.param_groups, (self.lr, self.gate_lr)):
            group["lr"] = self.lr_at(step, base)
        loss = self.loss(self.data(step), g)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.ema.update(self.unet, step)
        return {"loss": loss.item(), **gate_magnitudes(self.unet)}

    # ------------------------------------------------------------------ evaluation and export
    def ema_unet(self) -> Any:
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_config(self.unet.config)
        if self.token_positions:
            add_token_positions(unet)
        if self.box_attention:
            add_box_attention(unet)
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
        """Held-out denoising loss on position-free captions (EMA weights, fixed noise) with and without the
        grounding tokens, and of the toy SD alone (fusers off) on the same captions and on the world's
        captions with positions (``val_loss_toy_sd`` / ``val_loss_toy_sd_positions``: what knowing the
        places is worth, the most the boxes can give); the gate magnitudes; and, when the toy judge exists,
        the share of ``eval_images`` two-object prompts (position-free captions) with both objects in their
        boxes, with the boxes as grounding tokens and from the toy SD on the same captions alone."""
        unet, self.unet = self.unet, self.ema_unet()
        try:
            out: dict[str, float] = {}
            arms = (
                ("val_loss", True, False, True),
                ("val_loss_no_boxes", False, False, True),
                ("val_loss_toy_sd", False, False, False),
                ("val_loss_toy_sd_positions", False, True, False),
            )
            for name, grounded, with_position, fusers in arms:
                set_fusers_enabled(self.unet, fusers)
                g = step_generator(self.seed, 0, salt=12)  # the same noise for all
                losses = [
                    self.loss(self.data(k, split="val"), g, False, grounded, with_position).item()
                    for k in range(2)
                ]
                out[name] = sum(losses) / len(losses)
            set_fusers_enabled(self.unet, True)
            out.update(gate_magnitudes(self.unet))
        finally:
            self.unet = unet
        from .experiment import load_judge  # deferred: PIL

        judge = load_judge(None, required=False)
        if judge is not None and self.eval_images > 0:
            from .grounding_eval import grounding_cases, score_grounding, stock_pipeline  # deferred: scipy

            cases = grounding_cases(self.eval_images, world_seed=4242)
            kw = {"num_inference_steps": self.eval_steps, "scheduled_sampling_beta": self.eval_beta}
            summary = score_grounding(cases, judge, gligen_pipe=self.pipeline(), **kw)
            if self._stock_scores is None:
                stock = stock_pipeline(self.base, self.device)
                self._stock_scores = score_grounding(cases, judge, sd_pipe=stock, **kw)["without_boxes"]
            summary["without_boxes"] = self._stock_scores
            for name, s in summary.items():
                out[f"two_object_in_box_{name}"] = s["all_in_box"]
                out[f"two_object_mean_iou_{name}"] = s["mean_iou"]
        return out

    def warm_start(self, export_dir: Path) -> None:
        from diffusers import UNet2DConditionModel

        if is_adapter_folder(export_dir):
            if bool(read_adapter(export_dir).get("box_attention", False)) != self.box_attention:
                raise ValueError(
                    _box_attention_mismatch(not self.box_attention, f"the adapter in {export_dir}")
                )
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
            "box_attention": self.box_attention,  # no weight tells it
            "class_phrases": self.class_phrases,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if checkpoint_has_box_attention(state) != self.box_attention:
            raise ValueError(_box_attention_mismatch(not self.box_attention, "the checkpoint"))
        if bool(state.get("class_phrases", False)) != self.class_phrases:
            raise ValueError(
                "the checkpoint was trained "
                + ("with" if not self.class_phrases else "without")
                + " --class-phrases: resume it "
                + ("with" if not self.class_phrases else "without")
                + f" --class-phrases (class_phrases={not self.class_phrases}), or train in another --work-dir"
            )
        missing = set(n for n, p in self.unet.named_parameters() if p.requires_grad) - set(state["grounding"])
        if missing and all(is_positional_name(n) for n in missing):
            raise ValueError(
                "the checkpoint holds the paper's fusers (no token positions): resume it without "
                "--token-positions (token_positions=False), or train in another --work-dir"
            )
        if checkpoint_has_token_positions(state["grounding"]) and not self.token_positions:
            raise ValueError(
                "the checkpoint holds positional fusers: resume it with --token-positions (token_positions=True)"
            )
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
            save_grounding_adapter(unet, out_dir, self.base_name, class_phrases=self.class_phrases)
            form = (
                f"Stored as a grounding adapter (grounding.safetensors, float16, loaded as float32) on the base "
                f"`{self.base_name}`; `load_gligen_pipeline` assembles the `StableDiffusionGLIGENPipeline`, whose "
                "`save_pretrained` writes the full folder."
            )
        else:
            if self.token_positions or self.box_attention:
                raise ValueError(
                    "positional or box-masked fusers export only as a grounding adapter: give base_name (or train with "
                    "token_positions=False and box_attention=False for a full StableDiffusionGLIGENPipeline "
                    "folder)"
                )
            save_pipeline_half(self.pipeline(unet), out_dir)
            form = "UNet and VAE stored in float16, loaded as float32. Loads with `StableDiffusionGLIGENPipeline.from_pretrained`."
        write_model_card(
            Path(out_dir),
            "Toy GLIGEN (diffusers StableDiffusionGLIGENPipeline)",
            "The toy SD's UNet with attention_type='gated': GLIGEN's gated self-attention over grounding tokens "
            "(pooled toy-CLIP phrase embedding + Fourier-embedded box, 30 slots), trained on shapes-world scenes "
            "with their ground-truth boxes; only position_net and the fusers train, the toy SD is frozen; EMA "
            f"0.999 weights; 10% caption and grounding dropout; {self.position_free:.0%} of the scenes captioned "
            f"without position words ({self.class_words:.0%} by class words only), so that only the boxes place "
            f"them; gates (alpha, initialised at 0) at lr {self.gate_lr:g}, the other new layers at {self.lr:g}; "
            f"timesteps [{self.min_timestep}, T). "
            + (
                "The fusers' visual tokens carry their grid cell's Fourier box embedding (a learned projection "
                "per fuser; the paper's fuser gives them none). "
                if self.token_positions
                else ""
            )
            + (
                "Visual tokens attend only to the grounding tokens whose box overlaps their grid cell "
                "(box-masked grounding attention; the paper's attention is unrestricted). "
                if self.box_attention
                else ""
            )
            + (
                "Scenes captioned by class words are grounded by their objects' class phrases ('a large "
                "circle'), the others by their full phrases. "
                if self.class_phrases
                else ""
            )
            + "Gate magnitudes |tanh(alpha)| (mean / max over layers) are in "
            "the metrics. " + form,
            {k: v for k, v in unet.config.items() if not k.startswith("_")},
            info,
        )


def _box_attention_mismatch(stored: bool, what: str) -> str:
    if stored:
        return f"{what} holds box-masked grounding attention: resume it with --box-attention (box_attention=True)"
    return (
        f"{what} holds the paper's unmasked grounding attention: resume it without --box-attention "
        "(box_attention=False), or train in another --work-dir"
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
    log_every: int = 50,
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
        log_every=log_every,
        export_dir=None if fresh else export_dir,
    )
    if export:
        info = {
            "steps": result["step"],
            "minutes": round(result["minutes"], 1),
            "device": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "seed": seed,
            "command": (
                f"workbench layout train-gligen --seed {seed} --lr {trainer.lr:g} --gate-lr {trainer.gate_lr:g} "
                f"--batch-size {trainer.batch_size} --position-free {trainer.position_free:g} "
                f"--class-words {trainer.class_words:g} --min-timestep {trainer.min_timestep}"
                + (" --token-positions" if trainer.token_positions else "")
                + (" --box-attention" if trainer.box_attention else "")
                + (" --class-phrases" if trainer.class_phrases else "")
                + (f" --no-words {trainer.no_words:g}" if trainer.no_words else "")
            ),
            "metrics": {k: v for k, v in result.items() if k not in ("step", "minutes")},
            "eval_command": "workbench layout eval-gligen --out runs/gligen-eval --seeds 1 2 3",
        }
        trainer.export(export_dir, info)
        logger.info("gligen: exported to %s", export_dir)
    return result
