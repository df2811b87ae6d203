"""Training of the retrieval-conditioned generator (Re-Imagen / RDM style) on the toy world, with the toy
training loop (:func:`toyworld.train.loop.run_training`).

Each example is an (image, text, retrieval) triple: a scene with one named entity (drawn with the toy
generator's training frequencies: frequent often, rare seldom, unseen never), its caption, and ``k``
neighbours of that image: other views of the same entity in the knowledge base (the toy entity catalogue).
A share of the examples (``design_frac``) hold an anonymous emblem instead: a random design that is none of
the named entities', captioned ``"an emblem"``, its ``k`` neighbours catalogue-style views of the same design
rendered and embedded on the fly. Only these teach the model to copy a design it has never seen from its
neighbours, which is what rare and unseen entities need; 16 frequent entities alone are learnt by heart.
The neighbours' CLIP image and text embeddings go through a :class:`RetrievalConditioner` into extra
cross-attention tokens; the conditioner is trained from scratch and the UNet fine-tuned from the toy SD.
Text and retrieval are dropped independently (``text_drop``, ``retrieval_drop``) so that all four
conditions of interleaved guidance are learnt. Batches are generated from ``(seed, step)``, so a resumed
run sees exactly the data it would have seen.

Run it (after the toy SD and CLIP are trained)::

    from generators.retrieval.train import RetrievalTrainer
    from toyworld.train.loop import default_work_dir, run_training
    trainer = RetrievalTrainer()
    run_training(trainer, default_work_dir(trainer.name), max_steps=20000, minutes=120)
    trainer.export(Path("toyworld/models/sd-retrieval"), {"steps": 20000})

The model code is the real path's: pass a Stable Diffusion pipeline (``pipeline=``), a hub CLIP
(``embedder=``) and a knowledge base made with it (``knowledge_base=``); the training scenes themselves are
the toy world's (entity names group the neighbours: ``neighbour_key``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel

from generators.retrieval.conditioner import RetrievalConditioner
from generators.retrieval.embedder import ClipEmbedder
from generators.retrieval.entity_scenes import (
    emblem_view,
    entity_scene,
    sample_training_entity,
    without_name,
)
from generators.retrieval.knowledge_base import KnowledgeBase
from generators.retrieval.pipeline_retrieval import CONDITIONER_FOLDER, RetrievalAugmentedPipeline
from generators.retrieval.sources import ToyEntitySource
from toyworld.entities import random_design
from toyworld.scene import Scene
from toyworld.train.data import encode_prompts, step_generator
from toyworld.train.loop import EMA, default_work_dir, warm_start_module
from toyworld.train.model_card import write_model_card
from toyworld.world import ShapesWorld
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

__all__ = ["RetrievalTrainer"]


class RetrievalTrainer:
    """Fine-tune a Stable Diffusion UNet and train a :class:`RetrievalConditioner` on retrieval triples.

    Args:
        seed: data and initialisation seed.
        batch_size: scenes per step.
        lr, conditioner_lr: learning rates of the UNet and of the (new) conditioner.
        image_size: scene side in pixels (the pipeline's).
        num_neighbours: ``k`` neighbours per example.
        text_drop, retrieval_drop: independent probabilities of dropping the caption / the neighbours.
        name_drop: probability of leaving the entity's name out of the caption (``"an emblem on the left"``):
            then only the neighbours say which design to draw. Without it the sampled entities are almost all
            frequent ones, whose names already say it, and the UNet learns to ignore the neighbours.
        design_frac: share of training examples holding an anonymous random design (see the module doc).
        snr_gamma: min-SNR weighting of the loss.
        views_per_entity: catalogue views per entity when the knowledge base is built here.
        device: training device (``None``: CPU).
        pipeline: the Stable Diffusion pipeline to fine-tune (default: the trained toy SD).
        embedder: the knowledge base's CLIP (default: the trained toy CLIP).
        knowledge_base: the base the neighbours come from (default: the toy entity catalogue, built in
            ``kb_dir``).
        kb_dir: where to build the catalogue base (default: ``<toy train dir>/retrieval_sd/kb``).
        neighbour_key: the metadata key that groups an image with its neighbours (``entity``).
    """

    name = "retrieval_sd"
    recipe = "design-mix"
    # what the model card's numbers come from: the losses of :meth:`evaluate`; the benchmark measures fidelity
    eval_command = (
        "RetrievalTrainer.evaluate (denoising loss on 32 held-out triples); entity fidelity: "
        "workbench run examples/retrieval_entitydrawbench.yaml"
    )

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        lr: float = 1e-4,
        conditioner_lr: float = 1e-3,
        image_size: int = 64,
        num_neighbours: int = 4,
        text_drop: float = 0.1,
        retrieval_drop: float = 0.1,
        name_drop: float = 0.5,
        design_frac: float = 0.5,
        snr_gamma: float = 5.0,
        views_per_entity: int = 8,
        device: str | None = None,
        pipeline: Any = None,
        embedder: ClipEmbedder | None = None,
        knowledge_base: KnowledgeBase | None = None,
        kb_dir: str | Path | None = None,
        neighbour_key: str = "entity",
    ) -> None:
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.k = int(seed), int(batch_size), int(num_neighbours)
        self.text_drop, self.retrieval_drop, self.snr_gamma = (
            float(text_drop),
            float(retrieval_drop),
            float(snr_gamma),
        )
        self.name_drop, self.design_frac = float(name_drop), float(design_frac)
        if not 0.0 <= self.design_frac <= 1.0:
            raise ValueError(f"design_frac must be in [0, 1], got {design_frac}")
        self.lr, self.conditioner_lr = float(lr), float(conditioner_lr)
        runtime = Runtime(seed=seed, device="cpu")
        if pipeline is None:
            # deferred: torch, diffusers, transformers (loaded on first use)
            from workbench.loading import load_sd_pipeline

            pipeline = load_sd_pipeline("toy", runtime)
        if embedder is None:
            # deferred: torch, diffusers, transformers (loaded on first use)
            from workbench.loading import load_clip

            embedder = ClipEmbedder(*load_clip("toy", runtime), name="toy")
        if knowledge_base is None:
            folder = Path(kb_dir) if kb_dir is not None else default_work_dir(self.name) / "kb"
            knowledge_base = KnowledgeBase.build(
                folder, ToyEntitySource(views_per_entity, image_size=image_size), embedder
            )
        self.kb, self.embedder = knowledge_base, embedder
        self.groups: dict[str, list[int]] = {}
        for i, entry in enumerate(self.kb.entries):
            key = entry["meta"].get(neighbour_key)
            if key is not None:
                self.groups.setdefault(str(key), []).append(i)
        if not self.groups:
            raise ValueError(
                f"no entry of the knowledge base has a {neighbour_key!r} in its metadata to group neighbours by"
            )
        self.world = ShapesWorld(image_size)
        self.vae = pipeline.vae.to(self.device).eval().requires_grad_(False)
        self.text_encoder = pipeline.text_encoder.to(self.device).eval().requires_grad_(False)
        self.tokenizer = pipeline.tokenizer
        self.unet = UNet2DConditionModel.from_config(pipeline.unet.config)
        self.unet.load_state_dict(pipeline.unet.state_dict())
        self.unet.to(self.device).train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.conditioner = RetrievalConditioner(
                embed_dim=self.kb.manifest.embedder.dim,
                cross_attention_dim=self.unet.config.cross_attention_dim,
                num_neighbours=self.k,
            ).to(self.device)
        self.noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
        self.opt = torch.optim.AdamW(
            [
                {"params": self.unet.parameters(), "lr": self.lr},
                {"params": self.conditioner.parameters(), "lr": self.conditioner_lr},
            ],
            weight_decay=1e-2,
        )
        self.ema = EMA(self.unet, 0.999)
        self.ema_conditioner = EMA(self.conditioner, 0.999)
        alphas = self.noise_scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)

    # ------------------------------------------------------------------ data
    def examples(
        self, step: int, count: int, split: str = "train"
    ) -> tuple[torch.Tensor, list[str], list[list[int] | list[Scene]]]:
        """The triples of ``step``: images `(count, 3, S, S)` in [0, 1], captions, and per image its neighbours:
        knowledge-base rows (a named entity) or ``k`` catalogue-style view scenes (an anonymous design).
        Training captions leave the entity's name out with probability ``name_drop``; ``split="val-unnamed"``
        gives the validation triples with every name left out, ``split="val-design"`` anonymous designs only."""
        salt = {"train": 0, "val": 1, "val-unnamed": 1, "val-design": 2}[split]
        scenes, neighbours, unnamed = [], [], []
        for i in range(count):
            rng = np.random.default_rng([self.seed, salt, step, i])
            anonymous = split == "val-design" or split == "train" and rng.random() < self.design_frac
            if anonymous:
                design = random_design(rng)
                scenes.append(entity_scene(rng, None, n_others=int(rng.integers(0, 3)), design=design))
                neighbours.append([emblem_view(rng, design=design) for _ in range(self.k)])
                unnamed.append(None)
                continue
            known = sorted(self.groups)
            entity = (
                sample_training_entity(rng, known)
                if split == "train"
                else known[int(rng.integers(len(known)))]
            )
            scenes.append(entity_scene(rng, entity, n_others=int(rng.integers(0, 3))))
            rows = self.groups[entity]
            pick = rng.choice(len(rows), size=self.k, replace=len(rows) < self.k)
            neighbours.append([rows[int(j)] for j in pick])
            drop = rng.random() < self.name_drop if split == "train" else split == "val-unnamed"
            unnamed.append(entity if drop else None)
        batch = self.world.render(scenes)
        captions = [c if e is None else without_name(c, e) for c, e in zip(batch.captions, unnamed)]
        return batch.images, captions, neighbours

    def neighbour_embeddings(
        self, neighbours: list[list[int] | list[Scene]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP image and text embeddings of each example's neighbours, `(B, k, D)` each: knowledge-base rows
        are looked up, view scenes rendered and embedded by the knowledge base's CLIP."""
        image = torch.zeros(len(neighbours), self.k, self.kb.image_emb.shape[1])  # (B, k, D)
        text = torch.zeros_like(image)
        views = [
            (b, j, v) for b, nb in enumerate(neighbours) for j, v in enumerate(nb) if isinstance(v, Scene)
        ]
        for b, nb in enumerate(neighbours):
            rows = [v for v in nb if not isinstance(v, Scene)]
            if rows:
                image[b, : len(rows)] = self.kb.image_emb[rows].float()
                text[b, : len(rows)] = self.kb.text_emb[rows].float()
        if views:
            batch = self.world.render([v for _, _, v in views])
            img_emb = self.embedder.embed_images(batch.images)  # (V, D)
            txt_emb = self.embedder.embed_texts(batch.captions)  # (V, D)
            for n, (b, j, _) in enumerate(views):
                image[b, j], text[b, j] = img_emb[n], txt_emb[n]
        return image, text

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return encode_prompts(self.tokenizer, self.text_encoder, captions, self.device)[0]  # (B, 77, C)

    def _loss(
        self,
        images: torch.Tensor,
        captions: list[str],
        neighbours: list[list[int] | list[Scene]],
        keep_retrieval: torch.Tensor,
        g: torch.Generator,
    ) -> torch.Tensor:
        with torch.no_grad():
            post = self.vae.encode(images.to(self.device) * 2 - 1).latent_dist
            eps = torch.randn(post.mean.shape, generator=g).to(self.device)
            latents = (post.mean + post.std * eps) * self.vae.config.scaling_factor  # (B, 4, h, w)
            text = self.encode_text(captions)  # (B, 77, C)
        image_emb, text_emb = self.neighbour_embeddings(neighbours)  # (B, k, D) each
        tokens = self.conditioner(image_emb.to(self.device), text_emb.to(self.device))  # (B, T, C)
        null = self.conditioner.null_tokens(tokens.shape[0])
        tokens = torch.where(keep_retrieval.to(self.device)[:, None, None], tokens, null)
        noise = torch.randn(latents.shape, generator=g).to(self.device)
        t = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (latents.shape[0],), generator=g
        )
        snr = self.snr[t].to(self.device)
        t = t.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        pred = self.unet(noisy, t, encoder_hidden_states=torch.cat([text, tokens], dim=1)).sample
        weight = (
            torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr
        )  # min-SNR-gamma, epsilon prediction
        return (weight * F.mse_loss(pred, noise, reduction="none").flatten(1).mean(1)).mean()

    # ------------------------------------------------------------------ the loop's protocol
    def step(self, step: int) -> dict[str, float]:
        images, captions, rows = self.examples(step, self.batch_size)
        g = step_generator(self.seed, step, salt=11)
        drop_text = torch.rand(len(captions), generator=g) < self.text_drop
        keep_retrieval = torch.rand(len(captions), generator=g) >= self.retrieval_drop
        captions = ["" if d else c for c, d in zip(captions, drop_text.tolist())]
        self.unet.train()
        loss = self._loss(images, captions, rows, keep_retrieval, g)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            list(self.unet.parameters()) + list(self.conditioner.parameters()), 1.0
        )
        self.opt.step()
        self.ema.update(self.unet, step)
        self.ema_conditioner.update(self.conditioner, step)
        return {"loss": loss.item()}

    @torch.no_grad()
    def evaluate(self, count: int = 32) -> dict[str, float]:
        """Denoising loss on held-out triples of every entity (unseen ones included), with the neighbours and
        with the null tokens, captions with and without the entity's name, and on anonymous designs none of
        training held: retrieval helps when ``val_loss_retrieval < val_loss_no_retrieval`` (most where the
        name is left out: ``*_unnamed``; ``*_design`` measures copying a design never trained on)."""
        self.unet.eval()
        out = {}
        for split, suffix in (("val", ""), ("val-unnamed", "_unnamed"), ("val-design", "_design")):
            images, captions, rows = self.examples(0, count, split=split)
            for name, keep in (("retrieval", True), ("no_retrieval", False)):
                g = step_generator(self.seed, 0, salt=23)  # the same noise and timesteps for both
                loss = self._loss(images, captions, rows, torch.full((count,), keep), g)
                out[f"val_loss_{name}{suffix}"] = loss.item()
        self.unet.train()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "unet": self.unet.state_dict(),
            "conditioner": self.conditioner.state_dict(),
            "opt": self.opt.state_dict(),
            "ema": self.ema.shadow,
            "ema_conditioner": self.ema_conditioner.shadow,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.unet.load_state_dict(state["unet"])
        self.conditioner.load_state_dict(state["conditioner"])
        self.opt.load_state_dict(state["opt"])
        self.ema.shadow = state["ema"]
        self.ema_conditioner.shadow = state["ema_conditioner"]

    def pipeline(self) -> RetrievalAugmentedPipeline:
        """The EMA weights as a :class:`RetrievalAugmentedPipeline` (DDIM sampler)."""
        unet = UNet2DConditionModel.from_config(self.unet.config)
        self.ema.copy_to(unet)
        conditioner = RetrievalConditioner.from_config(self.conditioner.config)
        self.ema_conditioner.copy_to(conditioner)
        pipe = RetrievalAugmentedPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=unet.eval(),
            scheduler=DDIMScheduler.from_config(
                self.noise_scheduler.config, set_alpha_to_one=False, steps_offset=1
            ),
            retrieval_conditioner=conditioner.eval(),
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(self.device)

    def warm_start(self, export_dir: Path) -> None:
        export_dir = Path(export_dir)
        warm_start_module(self.unet, self.ema, UNet2DConditionModel.from_pretrained(export_dir / "unet"))
        warm_start_module(
            self.conditioner,
            self.ema_conditioner,
            RetrievalConditioner.from_pretrained(export_dir / CONDITIONER_FOLDER),
        )

    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        out_dir = Path(out_dir)
        self.pipeline().save_pretrained(out_dir, half=True)
        write_model_card(
            out_dir,
            "Toy retrieval-conditioned Stable Diffusion (Re-Imagen style)",
            "The toy SD's UNet fine-tuned to read k retrieved neighbours as extra cross-attention tokens "
            f"(RetrievalConditioner in {CONDITIONER_FOLDER}/: CLIP image + text embeddings of each neighbour), "
            "trained on (scene, caption, other views of the same entity) triples with independent text and "
            f"retrieval dropout, the entity's name left out of {self.name_drop:.0%} of the captions, "
            f"{self.design_frac:.0%} of the examples anonymous random designs with views rendered on the fly; UNet, VAE and conditioner stored in float16, loaded as float32. Load with `RetrievalAugmentedPipeline.from_export`.",
            {"conditioner": dict(self.conditioner.config), "knowledge_base": self.kb.describe(), "k": self.k},
            info,
        )
