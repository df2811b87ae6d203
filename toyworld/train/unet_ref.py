"""Toy SD whose decoder self-attention is trained to carry appearance across images: the 16x16 decoder
attention of ``unet-hires`` (added to the shipped toy SD) and the toy SD's 8x8 decoder attention (FreeCustom's
two levels), trained with cross-image self-attention (:mod:`.cross_image`), with the cross-attention of the
coarser transformers (which lay a scene out from its caption) at a small step and the rest frozen: each
training scene is denoised beside up to two other images of its objects (each object alone, as a reference
shows it), whose keys and values its self-attention sees as FreeCustom's multi-reference self-attention shows
a reference's: only the keys inside the object, with the mask weight (+3) on their logits. An object shown
elsewhere is mostly captioned by its class only (``"a large circle"``: what the other image shows is left out),
objects' pixels weigh more in the loss, and so do the noisy steps of scenes beside other images (their clean
image's error, ``1 / SNR`` up to 10x), where what another image shows decides the appearance.

Why: Stable Diffusion's self-attention copies appearance between the objects and textures that natural
images repeat, and FreeCustom's multi-reference self-attention relies on it. The shapes world's scenes never
repeat an object, and the plain denoising objective leaves the 16x16 attention placing objects rather than
copying them (``unet-hires``: multi-reference attention +3 points over text-only). Training scenes here
include anonymous emblems (captioned only ``"an emblem"``: their design is in the other images alone), named
emblems of the frequent and rare buckets (never the unseen ones) and plain objects; 15 % of the scenes and
every caption-dropped one are denoised alone, so the model stays a plain text-to-image model as well. The
toy SD was trained on captions naming every attribute; with its coarse levels frozen, a class-worded caption
(``"a large cross at the top and a large triangle at the bottom"``) often gets the same shape twice, with or
without references: the coarse cross-attention is trained too (``text_attention_lr``).
Measured: README, FreeCustom.

    workbench toy train unet-ref --threads 2 --minutes 60        # resumable; exports to models/sd-ref
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..entities import BUCKET_WEIGHT, BUCKETS, random_design
from ..scene import ObjectSpec, Scene
from ..vocab import BACKGROUND, COLOR_NAMES, SHAPES, SIZES, TEXTURES
from ..world import cell_box, emblem_object
from .cross_image import CrossImageAttnProcessor, CrossImageState
from .data import prompt_ids, step_generator
from .unet_hires import HiResAttentionTrainer

__all__ = ["CrossImageAttentionTrainer", "cross_image_views"]

CENTER = 4
# the recipe this one continues (the decoder attention alone; weights shipped until step 7,973)
_DECODER_ONLY = "attention-8x8-16x16-decoder-cross-image-masked-class-worded-views-object-weighted-high-t"
_NAMED = [e for b, es in BUCKETS.items() for e in es if BUCKET_WEIGHT[b] > 0]
_NAMED_P = np.array([BUCKET_WEIGHT[b] for b, es in BUCKETS.items() for e in es if BUCKET_WEIGHT[b] > 0])
_NAMED_P = _NAMED_P / _NAMED_P.sum()


def _object(rng: np.random.Generator, cell: int) -> ObjectSpec:
    box = cell_box(cell, SIZES["large"], rng)
    u = rng.random()
    if u < 0.35:
        return emblem_object(box, design=random_design(rng))
    if u < 0.5:
        return emblem_object(box, entity=str(_NAMED[rng.choice(len(_NAMED), p=_NAMED_P)]))
    return ObjectSpec(
        SHAPES[rng.integers(len(SHAPES))],
        COLOR_NAMES[rng.integers(len(COLOR_NAMES))],
        "large",
        TEXTURES[rng.choice(3, p=[0.5, 0.25, 0.25])],
        box,
    )


def _alone(rng: np.random.Generator, obj: ObjectSpec) -> Scene:
    """``obj`` alone: centred (as a reference shows it) or, one time in three, in another cell."""
    cell = CENTER if rng.random() < 0.67 else int(rng.integers(9))
    moved = ObjectSpec(
        obj.shape,
        obj.color,
        obj.size,
        obj.texture,
        cell_box(cell, SIZES[obj.size], None),
        obj.entity,
        obj.design,
    )
    return Scene(objects=(moved,), background=BACKGROUND)


def _caption(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def cross_image_views(
    rng: np.random.Generator, count: int, group: int = 3, alone_prob: float = 0.15, vague_prob: float = 0.5
) -> tuple[list[Scene], list[str], torch.Tensor]:
    """``count`` training scenes, each followed by ``group - 1`` other images of its objects.

    An object shown in another image is captioned, with probability ``vague_prob``, without what that image
    shows (by its class: :meth:`~toyworld.scene.ObjectSpec.class_phrase`), in the scene's caption and in
    the other image's (as a user names a concept and its reference ``"a dog"``): the other image is then the
    only source of its colour, texture or design.

    Returns:
        ``(scenes, captions, present)``: ``count * group`` scenes and captions (a scene's caption; an other
        image's concept phrase, as a reference's concept prompt reads), and ``present`` `(count, group)` bool
        (absent other images are padding: a copy of the scene).
    """
    scenes: list[Scene] = []
    captions: list[str] = []
    present = torch.zeros(count, group, dtype=torch.bool)
    for b in range(count):
        n = int(rng.choice([1, 2, 3], p=[0.25, 0.55, 0.2]))
        cells = rng.permutation(9)[:n]
        tint = rng.uniform(-0.05, 0.05, size=3) + rng.uniform(0.06, 0.16)
        scene = Scene(
            objects=tuple(_object(rng, int(c)) for c in cells),
            background=tuple(float(t) for t in np.clip(tint, 0, 1)),
        )
        shown = [] if rng.random() < alone_prob else [int(i) for i in rng.permutation(n)[: group - 1]]
        vague = [i in shown and rng.random() < vague_prob for i in range(n)]
        scenes.append(scene)
        captions.append(
            _caption([o.class_phrase() if v else o.phrase() for o, v in zip(scene.objects, vague)])
        )
        present[b, 0] = True
        for g in range(1, group):
            if g - 1 < len(shown):
                view = _alone(rng, scene.objects[shown[g - 1]])
                scenes.append(view)
                obj = view.objects[0]  # named as the scene's caption names it, as a concept prompt would
                vaguely = vague[shown[g - 1]]
                captions.append(obj.class_phrase(False) if vaguely else obj.phrase(with_position=False))
                present[b, g] = True
            else:
                scenes.append(scene)
                captions.append(captions[-g])
    return scenes, captions, present


class CrossImageAttentionTrainer(HiResAttentionTrainer):
    """Trains the decoder attention of the last two levels (8x8 and 16x16: FreeCustom's) with cross-image
    self-attention (see the module doc): the new 16x16 transformers at ``lr``, the toy SD's 8x8 ones at
    ``coarse_lr``; the rest stays frozen.

    Args:
        group: rows per training scene (the scene and up to ``group - 1`` other images).
        coarse_lr: learning rate of the 8x8 transformers (trained already: a smaller step).
        text_attention_lr: learning rate of the cross-attention (``attn2``) of every other transformer (the
            coarse levels that lay a scene out from its caption), so that class-worded captions
            (``"a large cross at the top and a large triangle at the bottom"``, never seen by the toy SD)
            place each named shape; ``0`` leaves them frozen.
        object_weight: extra loss weight of the objects' latent pixels.
        vague_prob: the chance that an object shown in an other image is captioned by its class only.
        mask_weight: the logit added to an other image's keys inside its object (outside: ``-inf``).
        x0_cap: the most a noisy step of a scene beside other images is up-weighted (``1 / SNR``).
        seed, batch_size (scenes per step; ``batch_size * group`` UNet rows), lr, base_dir, **kwargs: as
            :class:`~.unet_hires.HiResAttentionTrainer`.
    """

    name = "unet-ref"
    recipe = "attention-8x8-16x16-decoder-text-attention-cross-image-masked-class-worded-views-object-weighted-high-t"
    # exported weights of the recipe this one continues (a warm start without a checkpoint)
    compatible_recipes = (_DECODER_ONLY,)
    # checkpoints of the recipes this one continues: their weights, a fresh optimiser
    resumes_recipes = (
        _DECODER_ONLY,
        "attention-8x8-16x16-decoder-cross-image-masked-views-vague-captions-object-weighted-high-t",
        "attention-16x16-decoder-cross-image-vague-captions",
        "attention-16x16-decoder-cross-image-vague-captions-object-weighted",
        "attention-8x8-16x16-decoder-cross-image-vague-captions-object-weighted",
    )

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 10,
        lr: float = 1e-3,
        coarse_lr: float = 2e-4,
        text_attention_lr: float = 1e-4,
        group: int = 3,
        object_weight: float = 4.0,
        vague_prob: float = 0.8,
        mask_weight: float = 3.0,
        x0_cap: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, batch_size=batch_size, lr=lr, **kwargs)
        self.group = int(group)
        self.object_weight = float(object_weight)
        self.vague_prob = float(vague_prob)
        self.x0_cap = float(x0_cap)
        self.cross = CrossImageState(mask_weight=mask_weight)
        levels = tuple(
            f"up_blocks.{i}." for i in (len(self.unet.up_blocks) - 2, len(self.unet.up_blocks) - 1)
        )
        self.unet.set_attn_processor(
            {
                name: CrossImageAttnProcessor(self.cross)
                if name.startswith(levels) and name.endswith("attn1.processor")
                else proc
                for name, proc in self.unet.attn_processors.items()
            }
        )
        coarse = [p for n, p in self.unet.named_parameters() if n.startswith(levels[0] + "attentions.")]
        for p in coarse:
            p.requires_grad_(True)
        self.new_parameters |= {
            n for n, _ in self.unet.named_parameters() if n.startswith(levels[0] + "attentions.")
        }
        fine = [p for p in self.unet.parameters() if p.requires_grad and all(p is not c for c in coarse)]
        groups = [
            {"params": fine, "lr": lr, "base_lr": lr},
            {"params": coarse, "lr": coarse_lr, "base_lr": coarse_lr},
        ]
        if text_attention_lr > 0:
            text = {
                n: p
                for n, p in self.unet.named_parameters()
                if ".attn2." in n and not n.startswith(levels)  # (down, mid and the 4x4 decoder level)
            }
            for p in text.values():
                p.requires_grad_(True)
            self.new_parameters |= set(text)
            groups.append(
                {"params": list(text.values()), "lr": text_attention_lr, "base_lr": text_attention_lr}
            )
        self.opt = torch.optim.AdamW(groups, weight_decay=1e-2)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            super().load_state_dict(state)
        except ValueError:  # a checkpoint of a recipe that trained fewer parameters: weights and EMA only
            self.unet.load_state_dict(state["unet"])
            self.ema.shadow = state["ema"]

    @torch.no_grad()
    def encoded(self, key: int) -> tuple[torch.Tensor, ...]:
        """Posterior mean and std `(B*G, 4, h, w)`, token ids `(B*G, 77)`, ``present`` `(B, G)`, the
        objects' latent-grid masks `(B*G, 1, h, w)` and the pixel object masks `(B, G, H, W)` bool of batch
        ``key``."""
        if self._encoded is None or self._encoded[0] != key:
            rng = np.random.default_rng([self.seed, int(key), 11])
            scenes, captions, present = cross_image_views(
                rng, self.batch_size, self.group, vague_prob=self.vague_prob
            )
            batch = self.world.render(scenes)
            post = self.vae.encode(batch.images.to(self.device) * 2 - 1).latent_dist
            objects = F.adaptive_max_pool2d((batch.masks > 0).float()[:, None], post.mean.shape[-2:])
            ids = prompt_ids(self.tokenizer, captions, self.device)
            pixel_masks = (batch.masks > 0).view(self.batch_size, self.group, *batch.masks.shape[-2:])
            self._encoded = (key, post.mean, post.std, ids, present, objects.to(self.device), pixel_masks)
        return self._encoded[1:]

    def step(self, step: int) -> dict[str, float]:
        mean, std, ids, present, objects, pixel_masks = self.encoded(step // self.reuse)
        b, g = present.shape
        gen = step_generator(self.seed, step)
        drop = torch.rand(b, generator=gen) < self.uncond_prob  # caption dropped: denoised alone
        present = present.clone()
        present[drop, 1:] = False
        row_drop = torch.zeros(b, g, dtype=torch.bool)
        row_drop[:, 0] = drop
        ids = torch.where(row_drop.flatten().to(self.device)[:, None], self.empty_ids, ids)  # (B*G, 77)
        with torch.no_grad():
            cond = self.text_encoder(ids)[0]  # (B*G, 77, D)
            eps = torch.randn(mean.shape, generator=gen).to(self.device)
            latents = (mean + std * eps) * self.vae.config.scaling_factor  # (B*G, 4, h, w)
        noise = torch.randn(latents.shape, generator=gen).to(self.device)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (b,), generator=gen)
        t = t.repeat_interleave(g)  # one timestep per group, as references are noised to the image's
        snr = self.snr[t].to(self.device)
        t = t.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        for group in self.opt.param_groups:
            group["lr"] = group["base_lr"] * self.lr_at(step)
        self.cross.present, self.cross.masks, self.cross.latent_hw = present, pixel_masks, mean.shape[-2:]
        try:
            pred = self.unet(noisy, t, encoder_hidden_states=cond).sample
        finally:
            self.cross.present = self.cross.masks = None
        weight = torch.minimum(snr, torch.full_like(snr, self.snr_gamma)) / snr  # (B*G,)
        # scenes beside other images: noisy steps weigh as the clean image's error (1 / SNR, at most x0_cap),
        # where min-SNR leaves them little weight; there what the other images show decides the appearance
        seen = torch.zeros(b, g, dtype=torch.bool)
        seen[:, 0] = present[:, 1:].any(1)
        x0 = (1.0 / snr).clamp(1.0, self.x0_cap)
        weight = torch.where(seen.flatten().to(self.device), weight * x0, weight)
        rows = present.flatten().to(self.device).float()  # padding rows do not count
        # objects' latent pixels weigh 1 + object_weight: what other images show is their appearance, a
        # small part of a scene's pixels
        pixel_weight = 1.0 + self.object_weight * objects  # (B*G, 1, h, w)
        err = F.mse_loss(pred, noise, reduction="none").mean(1, keepdim=True)  # (B*G, 1, h, w)
        per_row = (pixel_weight * err).flatten(1).sum(1) / pixel_weight.flatten(1).sum(1)
        loss = (weight * per_row * rows).sum() / rows.sum()
        self.optimise(loss, step)
        return {"loss": loss.item(), "with_views": float(present[:, 1:].any(1).float().mean())}

    card_title = (
        "Toy Stable Diffusion with cross-image 16x16 decoder attention (diffusers StableDiffusionPipeline)"
    )
    card_description = (
        "The toy SD (models/sd) with a self- and cross-attention transformer added to each ResNet of the last "
        "decoder level (16x16 latents), output projections started at zero, trained with the 8x8 decoder "
        "transformers and the cross-attention of the coarser ones, the rest frozen "
        "(epsilon prediction, min-SNR-5, 10% caption dropout, EMA 0.999) on toy-world scenes denoised beside up to "
        "two other images of their objects, whose self-attention keys and values inside the object they see with "
        "a +3 logit (cross-image attention, as cross-frame attention trains in video models, masked as "
        "FreeCustom's multi-reference self-attention is); objects shown elsewhere are mostly captioned by their "
        "class only: its self-attention carries appearance "
        "between images, as multi-reference self-attention (FreeCustom) needs. Loads with "
        "`StableDiffusionPipeline.from_pretrained`; plain text-to-image without other images."
    )
