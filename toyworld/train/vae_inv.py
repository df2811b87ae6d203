"""The toy VAE's encoder fine-tuned to give back the latents its decoder draws from (an inversion encoder).

Stable Diffusion's VAE encoder nearly inverts its decoder on SD's own generations; the toy VAE's does not:
``E(D(z))`` misses a toy SD generation's final latent ``z`` by about 0.4 of its norm, worst at the lowest
spatial frequencies, so a detector that inverts an image to its initial noise (Tree-Ring, Gaussian Shading)
starts from the wrong latent. This trainer continues ONLY the encoder (and its ``quant_conv``) with

- a latent-reproduction loss ``|| E(q(D(z))) - z ||^2`` on latents ``z`` of the toy SD's own guided
  generations (random toy prompts, several guidance values; generated once and cached to disk) and on the
  original encoder's latents ``E0(x)`` of scenes, where ``q`` is what a stored image goes through (8-bit
  quantisation, sometimes a 4x bicubic round trip);
- an anchor ``|| E(x) - E0(x) ||^2`` on scenes, so img2img and retrieval see the same latent space.

The decoder is frozen (generations are unchanged); the export stores only the encoder's weights, which
:func:`workbench.latents.load_inversion_vae` composes with the toy SD's decoder.

    workbench toy train vae-inv --threads 2 --minutes 30   # resumable; exports to models/vae-inv
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL

from workbench.latents import ENCODER_PREFIXES, save_inversion_encoder

from ..world import ShapesWorld, sample_scene
from .base import EMATrainer
from .data import step_generator, train_batch
from .loop import EMA, default_work_dir
from .model_card import write_model_card
from .registry import MODELS_DIR

__all__ = ["InversionEncoderTrainer", "degrade", "latent_error", "low_frequency_error", "ring_error"]

logger = logging.getLogger(__name__)


def degrade(images: torch.Tensor, generator: torch.Generator, resize_prob: float = 0.5) -> torch.Tensor:
    """What a stored image goes through: ``(B, 3, H, W)`` in [0, 1] -> the same, each image quantised to 8
    bits, after a bicubic 4x upsampling (and antialiased shrink back) with probability ``resize_prob``."""
    f = torch.nn.functional
    h, w = images.shape[-2:]
    big = f.interpolate(images, size=(4 * h, 4 * w), mode="bicubic", align_corners=False).clamp(0, 1)
    big = (big * 255).round() / 255
    back = f.interpolate(big, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    plain = (images.clamp(0, 1) * 255).round() / 255
    pick = (torch.rand(images.shape[0], generator=generator) < resize_prob).view(-1, 1, 1, 1)
    return torch.where(pick.to(images.device), back, plain)


def low_frequency_error(err: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean ``|FFT(err)|^2 / (h w)`` over the centred disc of ``radius`` around the DC term of latent errors
    ``(B, C, h, w)`` (Parseval: the scale of a mean squared error): where the Tree-Ring key sits, and where the
    toy VAE's encoder is worst."""
    h, w = err.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(err.float()), dim=(-2, -1))  # (B, C, h, w) complex
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    disc = ((x - w // 2) ** 2 + (y - h // 2) ** 2 <= radius**2).to(err.device)  # (h, w)
    return (spectrum.abs() ** 2)[..., disc].mean() / (h * w)


def latent_error(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(C,)`` relative error per channel ``|est - z| / |z|`` of latents ``(B, C, h, w)``, averaged over B."""
    diff = (estimate - target).transpose(0, 1).flatten(2).norm(dim=-1)  # (C, B)
    return (diff / target.transpose(0, 1).flatten(2).norm(dim=-1)).mean(1)


# rings of the spectrum around the DC term, lo < r <= hi (the first r <= 1): those of the benchmark's --spectrum
RINGS = ((0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, float("inf")))


def ring_error(
    estimate: torch.Tensor, target: torch.Tensor, rings: tuple[tuple[float, float], ...] = RINGS
) -> torch.Tensor:
    """``(C, R)`` spectral error of latents ``(B, C, h, w)`` per channel and ring ``lo < r <= hi`` around the
    DC term: ``mean |FFT(est - z)| / mean |FFT(z)|`` over the ring and the batch (a Tree-Ring key of radius 6
    lies mostly in the ring 4 < r <= 6; the same measure as ``bench_treering_inversion.py --spectrum``)."""
    h, w = target.shape[-2:]
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    radius = ((x - w // 2) ** 2 + (y - h // 2) ** 2).float().sqrt()  # (h, w)

    def fft(v: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> |centred spectrum| (C, B, h, w)
        return torch.fft.fftshift(torch.fft.fft2(v.float()), dim=(-2, -1)).abs().transpose(0, 1)

    err, ref = fft(estimate - target), fft(target)
    masks = [((radius > lo) if lo > 0 else (radius >= 0)) & (radius <= hi) for lo, hi in rings]
    return torch.stack([err[..., m].mean(-1).mean(-1) / ref[..., m].mean(-1).mean(-1) for m in masks], dim=1)


class InversionEncoderTrainer(EMATrainer):
    """Fine-tunes the toy VAE's encoder so that ``E(D(z)) = z`` on the toy SD's latents, decoder frozen.

    Args:
        seed: data and noise seed.
        batch_size: latents per step, half from cached generations, half from scenes. The reproduction loss
            covers the channels the decoder draws (:meth:`_drawn_channels`).
        lr: AdamW learning rate (100-step warm-up).
        anchor_weight: weight of ``|| E(x) - E0(x) ||^2`` on scenes (scaled latents, std about 1).
        low_frequency_weight, low_frequency_radius: weight of the reproduction error's spectrum in the disc of
            that radius around the DC term (:func:`low_frequency_error`; 6 of the toy SD's 16 x 16 latents),
            on top of the plain squared error: the low frequencies carry Tree-Ring's key.
        resize_prob: share of decodings that go through the 4x resize round trip before quantisation.
        generations: how many toy SD generations to cache (about 0.4 s each at 10 steps on one CPU thread;
            192 were too few: the held-out error hardly fell while the training loss did).
        held_out: the last ``held_out`` cached generations, never trained on, that :meth:`evaluate` measures.
        guidance_scales: the guidance values of the cached generations (cycled over them).
        generation_steps: DDIM steps of the cached generations.
        sd_dir: the toy SD whose generations and decoder are used; base_dir: the original toy VAE.
        cache_path: the cached latents (``None``: ``vae-inv-latents/latents.pt`` in the training folder).
        device: torch device.
    """

    name = "vae-inv"
    module_key = "vae"
    recipe = "toy-vae-encoder-reproduces-latents-anchored"
    eval_command = (
        'InversionEncoderTrainer.evaluate (128 held-out generations, 64 held-out scenes): python -c "from '
        "toyworld.train.vae_inv import InversionEncoderTrainer as T; t = T(); t.warm_start('toyworld/models/"
        "vae-inv'); print(t.evaluate())\""
    )

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        lr: float = 3e-4,
        anchor_weight: float = 0.3,
        low_frequency_weight: float = 3.0,
        low_frequency_radius: int = 6,
        resize_prob: float = 0.5,
        generations: int = 2560,
        held_out: int = 128,
        guidance_scales: tuple[float, ...] = (3.0, 5.0, 7.5),
        generation_steps: int = 10,
        image_size: int = 64,
        sd_dir: Path = MODELS_DIR / "sd",
        base_dir: Path = MODELS_DIR / "vae",
        cache_path: Path | None = None,
        device: str | None = None,
    ) -> None:
        if anchor_weight < 0 or low_frequency_weight < 0:
            raise ValueError(
                f"anchor_weight and low_frequency_weight must be >= 0, got {anchor_weight}, {low_frequency_weight}"
            )
        if batch_size < 2:
            raise ValueError(
                f"batch_size must be at least 2 (half generations, half scenes), got {batch_size}"
            )
        if held_out < 1 or generations <= held_out:
            raise ValueError(
                f"generations must exceed held_out >= 1 (held out for evaluation), got {generations}, {held_out}"
            )
        if not any(Path(base_dir).glob("*.safetensors")):
            raise FileNotFoundError(f"no toy VAE in {base_dir}: train it first (`workbench toy train vae`)")
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.lr, self.n_eval = seed, batch_size, lr, held_out
        self.anchor_weight, self.resize_prob = anchor_weight, resize_prob
        self.low_frequency_weight, self.low_frequency_radius = low_frequency_weight, low_frequency_radius
        self.guidance_scales, self.generation_steps = tuple(guidance_scales), generation_steps
        self.sd_dir = Path(sd_dir)
        load = dict(use_safetensors=True, local_files_only=True, torch_dtype=torch.float32)
        self.base = AutoencoderKL.from_pretrained(str(base_dir), **load).to(self.device).eval()
        self.base.requires_grad_(False)
        self.vae = AutoencoderKL.from_pretrained(str(base_dir), **load).to(self.device).train()
        self.vae.decoder.requires_grad_(False)
        self.vae.post_quant_conv.requires_grad_(False)
        self.sf = float(self.base.config.scaling_factor)
        self.world = ShapesWorld(image_size)
        self.opt = torch.optim.AdamW(self.trained_parameters(), lr=lr, weight_decay=0.0)
        self.ema = EMA(self.vae, 0.999)
        path = (
            Path(cache_path) if cache_path is not None else default_work_dir("vae-inv-latents") / "latents.pt"
        )
        self.latents = self._cached_generations(path, generations)  # (N, 4, h, w) scaled
        with torch.no_grad():
            self.images = self._decode(self.latents)  # (N, 3, H, W): the decoder is frozen
        self.drawn = self._drawn_channels()  # (C,) bool
        logger.info("vae-inv: the decoder draws latent channels %s", self.drawn.nonzero().flatten().tolist())
        self.eval_scenes = self.world.batch(12345, "val", 0, 64, n_objects=(1, 4), entity_prob=0.15).images

    # ------------------------------------------------------------------ data
    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return [p for name, p in self.vae.named_parameters() if name.startswith(ENCODER_PREFIXES)]

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """Scaled latents ``(N, 4, h, w)`` -> images ``(N, 3, H, W)`` in [0, 1] through the frozen decoder."""
        out = [
            ((self.base.decode(z.to(self.device) / self.sf).sample + 1) / 2).clamp(0, 1).cpu()
            for z in latents.split(chunk)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def _cached_generations(self, path: Path, n: int) -> torch.Tensor:
        """Final latents ``(n, 4, h, w)`` of toy SD generations (DDIM, random toy prompts of 1-3 objects,
        guidance cycling over ``guidance_scales``), generated once and kept in ``path``. Generation goes in
        chunks of 32 (the chunk's start seeds its noise, the index its prompt), each saved to a ``.partial``
        file beside ``path``, so a stopped generation resumes where it stopped."""
        key = {
            "n": n,
            "guidance": list(self.guidance_scales),
            "steps": self.generation_steps,
            "seed": self.seed,
        }
        if path.exists():
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if cached.get("key") == key:
                return cached["latents"].float()
            logger.warning("%s holds other generations (%s): generating again", path, cached.get("key"))
        partial = path.with_name(path.name + ".partial")
        out = []
        if partial.exists():
            cached = torch.load(partial, map_location="cpu", weights_only=True)
            if cached.get("key") == key:
                out = [cached["latents"].float()]
                logger.info("vae-inv: resuming generation at %d / %d", len(out[0]), n)
        from diffusers import DDIMScheduler, StableDiffusionPipeline

        pipe = StableDiffusionPipeline.from_pretrained(
            str(self.sd_dir), local_files_only=True, safety_checker=None, requires_safety_checker=False
        ).to(self.device)
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        h = int(pipe.unet.config.sample_size)
        chunk = 32
        for start in range(sum(len(z) for z in out), n, chunk):
            idx = range(start, min(n, start + chunk))
            prompts = [
                sample_scene(np.random.default_rng([31, self.seed, i]), n_objects=(1, 3)).caption()
                for i in idx
            ]
            g = torch.Generator().manual_seed(
                int(np.random.default_rng([37, self.seed, start]).integers(2**62))
            )
            noise = torch.randn(len(idx), 4, h, h, generator=g)
            guidance = self.guidance_scales[(start // chunk) % len(self.guidance_scales)]
            z = pipe(
                prompt=prompts,
                latents=noise.to(self.device),
                num_inference_steps=self.generation_steps,
                guidance_scale=guidance,
                output_type="latent",
            ).images
            out.append(z.float().cpu())
            partial.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": key, "latents": torch.cat(out)}, partial)
            logger.info("vae-inv: cached %d / %d generations (guidance %.1f)", start + len(idx), n, guidance)
        latents = torch.cat(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "latents": latents}, path)
        partial.unlink(missing_ok=True)
        return latents

    @torch.no_grad()
    def _drawn_channels(self, n: int = 16, delta: float = 0.5) -> torch.Tensor:
        """``(C,)`` bool: the latent channels the decoder draws, those where adding ``delta`` to a cached
        latent moves its image by at least one 8-bit level (mean absolute). A channel it is blind to (the
        toy VAE's channel 2) cannot be read back from any image, so it is left out of the reproduction loss
        (the anchor still holds it on scenes)."""
        z = self.latents[:n]
        drawn = self._decode(z)
        moved = []
        for c in range(z.shape[1]):
            shifted = z.clone()
            shifted[:, c] += delta
            moved.append(float((self._decode(shifted) - drawn).abs().mean()))
        out = torch.tensor(moved) >= 1 / 255
        if not out.any():
            raise ValueError(
                f"the decoder draws none of the latent channels (image change {moved}): nothing to invert"
            )
        return out

    # ------------------------------------------------------------------ training
    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 100)

    def _encode(self, vae: AutoencoderKL, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` in [0, 1] -> scaled posterior means ``(B, 4, h, w)``."""
        return vae.encode(images.to(self.device) * 2 - 1).latent_dist.mode() * self.sf

    def step(self, step: int) -> dict[str, float]:
        n_gen = self.batch_size // 2
        g = step_generator(self.seed, step)
        pick = torch.randint(0, self.latents.shape[0] - self.n_eval, (n_gen,), generator=g)
        scenes = train_batch(
            self.world, self.seed, step, self.batch_size - n_gen, n_objects=(1, 4), entity_prob=0.15
        ).images  # (B - n, 3, H, W)
        with torch.no_grad():
            old = self._encode(self.base, scenes)  # (B - n, 4, h, w): the anchor, and latents to reproduce
            drawn = torch.cat([self.images[pick], self._decode(old)])  # (B, 3, H, W)
            targets = torch.cat([self.latents[pick].to(self.device), old])  # (B, 4, h, w)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        z = self._encode(self.vae, torch.cat([degrade(drawn, g, self.resize_prob), scenes]))
        err = (z[: len(targets)] - targets)[:, self.drawn.to(z.device)]  # (B, C', h, w)
        reproduce = (err**2).mean()
        low = low_frequency_error(err, self.low_frequency_radius)
        anchor = ((z[len(targets) :] - old) ** 2).mean()
        loss = reproduce + self.low_frequency_weight * low + self.anchor_weight * anchor
        self.optimise(loss, step)
        return {
            "loss": loss.item(),
            "reproduce": reproduce.item(),
            "low": low.item(),
            "anchor": anchor.item(),
        }

    @torch.no_grad()
    def ema_model(self) -> AutoencoderKL:
        return self.ema_copy(lambda: AutoencoderKL(**self.vae.config))

    @torch.no_grad()
    def evaluate(self, model: AutoencoderKL | None = None) -> dict[str, float]:
        """On the ``held_out`` cached generations (quantised, through the 4x resize round trip) and 64
        held-out scenes: the relative latent error ``|E(D(z)) - z| / |z|`` per channel, the original
        encoder's, on the drawn channels the same per spectrum ring (:func:`ring_error`, keys
        ``ring_error_ch{c}_r{lo}-{hi}``, ``_original`` for the original encoder), and the anchor's RMS shift
        ``E(x) - E0(x)`` on scenes (scaled latents)."""
        model = self.ema_model() if model is None else model
        z = self.latents[-self.n_eval :]
        x = degrade(self.images[-self.n_eval :], torch.Generator().manual_seed(0), resize_prob=1.0)
        est, est_old = self._encode(model, x), self._encode(self.base, x)  # (n, 4, h, w) each
        new, old = latent_error(est, z), latent_error(est_old, z)
        scenes = self.eval_scenes
        out = {f"latent_error_ch{c}": float(new[c]) for c in range(new.shape[0])}
        out |= {f"latent_error_ch{c}_original": float(old[c]) for c in range(old.shape[0])}
        drawn = self.drawn.nonzero().flatten().tolist()
        for suffix, rings in (("", ring_error(est, z)), ("_original", ring_error(est_old, z))):  # (C, R)
            out |= {
                f"ring_error_ch{c}_r{lo:g}-{hi:g}{suffix}": round(float(rings[c, r]), 4)
                for c in drawn
                for r, (lo, hi) in enumerate(RINGS)
            }
        shift = self._encode(model, scenes) - self._encode(self.base, scenes)
        out["scene_latent_rms_shift"] = float(shift.pow(2).mean().sqrt())
        return out

    def warm_start(self, export_dir: Path) -> None:
        from workbench.latents import load_inversion_vae

        self.warm_start_from(load_inversion_vae(export_dir, self.base))

    @torch.no_grad()
    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        model = self.ema_model()
        model.register_to_config(scaling_factor=self.sf)
        save_inversion_encoder(model, out_dir)
        write_model_card(
            out_dir,
            "Toy VAE inversion encoder (the encoder of a diffusers AutoencoderKL)",
            "The toy VAE's encoder (`toyworld/models/vae`) fine-tuned, decoder frozen, so that encoding a "
            "decoded latent gives it back (`E(D(z)) = z`) on the toy SD's own generations (guidance "
            f"{', '.join(str(g) for g in self.guidance_scales)}, {self.generation_steps} DDIM steps, 8-bit "
            "quantised, half through a 4x resize round trip) and on scenes' latents, anchored to the "
            "original encoder on scenes. Only the encoder's weights are stored (float16, loaded as float32); "
            "`workbench.latents.load_inversion_vae` composes them with the toy SD's decoder. Used by the "
            "latent watermark detectors (Tree-Ring, Gaussian Shading) of the `toy` preset to invert images.",
            dict(model.config),
            info,
        )
