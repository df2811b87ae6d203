"""Tree-Ring on the toy SD: how far each inversion lands from the true initial latent, and TPR@1%FPR.

    python benchmarks/bench_treering_inversion.py --seed 0 --images 32 --sources true,encoder \\
        --variants ddim,fp3,fp8,caption-g5-fp3,oracle-g5-fp10
    python benchmarks/bench_treering_inversion.py --step-check     # does the fixed point converge per step?
    python benchmarks/bench_treering_inversion.py --steps 25 --images 8 --sources true,encoder \
        --variants ddim --radius 6 --channel -1 --spectrum          # where (channel, ring) the error sits

Generates ``--images`` Tree-Ring generations and as many un-watermarked ones (other noise, same prompts:
toy-world captions of 1-2 objects; ``--steps`` DDIM steps, default 10, guidance 5), then inverts their final latents with each
variant and prints the inverted initial latent's relative error ``|z - z_T| / |z_T|`` (watermarked images),
with ``--spectrum`` the same per channel and ring of the spectrum (r <= 1 / 2 / 4 / 6 / beyond), and TPR at
1 % FPR (the null's resolution is ``1 / images``). Sources: ``true`` (the generation's own final latents:
inversion alone), ``encoder`` (the VAE encoder's latents of the image, resized to 256 px and
quantised as the benchmark does), ``decoder50`` (50 decoder-inversion steps after the encoder),
``decoder50-input`` (the same, fitted to the 256 px image through the resize), ``inv`` (the inversion
encoder's latents, ``--inversion-vae``: the toy VAE's encoder fine-tuned so that ``E(D(z)) = z``),
``inv-decoder50[-input]`` (decoder inversion started from those), ``toward-encoderF`` / ``toward-invF`` (the
generation's final latent moved the fraction F of the way to that encoder's: how small a latent error the
key survives; ``-keepC``: channel C keeps the encoder's latent). Every source also prints its latent
relative error per channel, and every variant the AUC. Variants:
``ddim`` (plain DDIM inversion on the generation's timesteps, empty prompt, guidance 1), ``fpK`` (K
fixed-point refinements per step), ``caption-gG[-fpK]`` (the toy captioner's caption at guidance G),
``oracle-gG[-fpK]`` (the true prompt: a detector never has it; the ceiling of prompt-following inversion).
"""

from __future__ import annotations

import argparse
import os
import re
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from toyworld.presets import MODELS_DIR  # noqa: E402


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).mean())


BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 99.0))


def spectral_error(a: torch.Tensor, b: torch.Tensor) -> str:
    """Per channel, ``|FFT(a - b)| / |FFT(b)|`` averaged over rings of radius r <= 1, (1, 2], (2, 4], (4, 6],
    > 6 around the DC term of latents ``(B, C, h, w)`` (where the Tree-Ring key sits: r <= its radius)."""
    from attacks.watermarks.treering import fft2c

    h, w = b.shape[-2:]
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    radius = ((x - w // 2) ** 2 + (y - h // 2) ** 2).float().sqrt()  # (h, w)
    err, ref = fft2c(a.float() - b.float()).abs(), fft2c(b.float()).abs()  # (B, C, h, w) each
    parts = []
    for c in range(b.shape[1]):
        bands = []
        for lo, hi in BANDS:
            ring = (radius > lo) & (radius <= hi) if lo > 0 else radius <= hi
            bands.append(f"{float(err[:, c][:, ring].mean() / ref[:, c][:, ring].mean()):.2f}")
        parts.append(f"ch{c} " + "/".join(bands))
    return "; ".join(parts)


def main() -> None:
    from attacks.image.ops import resize
    from attacks.paraphrase.captioners import load_captioner
    from attacks.watermarks import build_watermark
    from attacks.watermarks.exact_inversion import exact_invert_latents
    from attacks.watermarks.inversion import empty_prompt_embeds
    from metrics.functional.detection import roc_auc, tpr_at_fpr
    from toyworld.world import sample_scene
    from workbench.latents import decode_images, encode_images, load_inversion_vae, refine_latents
    from workbench.loading import load_sd_pipeline
    from workbench.runtime import Runtime

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--radius", type=int, default=None)
    ap.add_argument("--channel", type=int, default=3)
    ap.add_argument("--sources", default="true,encoder")
    ap.add_argument("--variants", default="ddim,fp3")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--inversion-vae",
        default=str(MODELS_DIR / "vae-inv"),
        help="folder of the inversion encoder of the inv sources (workbench toy train vae-inv)",
    )
    ap.add_argument("--spectrum", action="store_true", help="also print the error per channel and ring")
    ap.add_argument(
        "--step-check",
        action="store_true",
        help="only check the fixed point step by step on the true trajectory (6 generations, true prompt)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seed, n, steps, g = args.seed, args.images, args.steps, args.guidance
    pipe = load_sd_pipeline("toy", Runtime(seed=0, device="cpu"))
    inversion_vae = None
    if any(s.startswith(("inv", "toward-inv")) for s in args.sources.split(",")):
        try:  # a missing encoder fails before the generations, not after
            inversion_vae = load_inversion_vae(args.inversion_vae, pipe.vae)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(str(exc)) from None
    wm = build_watermark(
        "treering", pipe=pipe, num_inference_steps=steps, guidance_scale=g, seed=seed,
        radius=args.radius, channel=args.channel,
    )  # fmt: skip
    ddim = wm.ddim
    ddim.set_progress_bar_config(disable=True)
    if args.step_check:
        step_check(ddim, seed, steps, g)
        return
    prompts = [
        sample_scene(np.random.default_rng([5, seed, i]), n_objects=(1, 2)).caption() for i in range(n)
    ]
    z_T = wm.initial_latents(
        n, [torch.Generator().manual_seed(1000 * seed + i) for i in range(n)], torch.zeros(n, 0)
    )
    null_T = torch.stack(
        [
            torch.randn(wm.latent_shape, generator=torch.Generator().manual_seed(777777 + 1000 * seed + i))
            for i in range(n)
        ]
    )
    with torch.no_grad():
        finals = [
            ddim(
                prompt=prompts, latents=z, num_inference_steps=steps, guidance_scale=g, output_type="latent"
            ).images
            for z in (z_T, null_T)
        ]  # (n, 4, h, w) each: watermarked, null

        def stored(z: torch.Tensor) -> torch.Tensor:  # the benchmark's images: 256 px, uint8
            return (resize(decode_images(pipe, z), (256, 256)) * 255).round().clamp(0, 255) / 255

        big = [stored(z) for z in finals]  # (n, 3, 256, 256) each
        images = [resize(x, wm.image_size) for x in big]  # back to the model's size
    captioner = load_captioner("toy")
    captions = [captioner.caption(resize(x, (256, 256))) for x in images]
    print(
        f"seed {seed}: captions equal to the prompt {sum(a == b for a, b in zip(captions[0], prompts))} / {n}"
    )

    def latents_of(source: str) -> list[torch.Tensor]:
        if source == "true":
            return finals
        m = re.fullmatch(
            r"(inv|encoder)|(inv-)?decoder(\d+)(-input)?|toward-(inv|encoder)([\d.]+)(?:-keep(\d))?", source
        )
        if m is None:
            raise SystemExit(f"unknown source {source!r}")
        if m.group(
            5
        ):  # the true latent moved a fraction of the way to the encoder's: how much error the key survives
            enc, f = latents_of(m.group(5)), float(m.group(6))
            out = [z + f * (e - z) for z, e in zip(finals, enc)]
            if m.group(7):  # that channel keeps the encoder's whole error (the one the decoder does not draw)
                for o, e in zip(out, enc):
                    o[:, int(m.group(7))] = e[:, int(m.group(7))]
            return out
        vae = inversion_vae if source.startswith("inv") else None
        enc = [encode_images(pipe, x, vae) for x in images]
        if m.group(1):
            return enc
        targets = big if m.group(4) else images
        return [refine_latents(pipe, z, x, int(m.group(3))) for z, x in zip(enc, targets)]

    def invert(latents: torch.Tensor, variant: str, which: int) -> torch.Tensor:
        m = re.fullmatch(r"(ddim|fp(\d+)|(caption|oracle)-g([\d.]+)(?:-fp(\d+))?)", variant)
        if m is None:
            raise SystemExit(f"unknown variant {variant!r}")
        if m.group(3) is None:
            iterations = int(m.group(2) or 0)
            cond, uncond, guidance = empty_prompt_embeds(pipe, n), None, 1.0
        else:
            iterations, guidance = int(m.group(5) or 0), float(m.group(4))
            text = prompts if m.group(3) == "oracle" else captions[which]
            cond, uncond = pipe.encode_prompt(text, "cpu", 1, True)
        return exact_invert_latents(ddim, latents, steps, cond, uncond, guidance, iterations)

    for source in args.sources.split(","):
        marked, null = latents_of(source)
        if source != "true":
            per_channel = " ".join(
                f"ch{c} {relative_error(marked[:, c], finals[0][:, c]):.3f}" for c in range(marked.shape[1])
            )
            print(
                f"seed {seed} {source}: latent relative error to the generation's "
                f"{relative_error(marked, finals[0]):.3f} ({per_channel})"
            )
            if args.spectrum:
                print(f"   per channel, rings r <= 1/2/4/6/beyond: {spectral_error(marked, finals[0])}")
        for variant in args.variants.split(","):
            start = time.perf_counter()
            inv = invert(marked, variant, 0)
            inv_null = invert(null, variant, 1)
            null_scores, marked_scores = -wm.distance(inv_null), -wm.distance(inv)
            tpr = tpr_at_fpr(null_scores, marked_scores, 0.01)["tpr"]
            auc = roc_auc(null_scores, marked_scores)
            print(
                f"seed {seed} source {source:9s} {variant:16s} relative error {relative_error(inv, z_T):.3f} "
                f"TPR@1%FPR {tpr:.3f} AUC {auc:.3f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            if args.spectrum:
                print(f"   per channel, rings r <= 1/2/4/6/beyond: {spectral_error(inv, z_T)}", flush=True)


@torch.no_grad()
def step_check(ddim, seed: int, steps: int, g: float, n: int = 6) -> None:
    """Invert single steps of a true guided trajectory: the error of the inverted noisier latent after
    k fixed-point refinements, plain and damped (half steps)."""
    from diffusers import DDIMScheduler

    from attacks.watermarks.exact_inversion import _noisier, guided_noise
    from toyworld.world import sample_scene

    prompts = [
        sample_scene(np.random.default_rng([5, seed, i]), n_objects=(1, 2)).caption() for i in range(n)
    ]
    states = [torch.randn(n, 4, 16, 16, generator=torch.Generator().manual_seed(seed))]

    def record(pipe, i, t, kw):
        states.append(kw["latents"].clone())
        return {}

    ddim(prompt=prompts, latents=states[0], num_inference_steps=steps, guidance_scale=g,
         output_type="latent", callback_on_step_end=record)  # fmt: skip
    cond, uncond = ddim.encode_prompt(prompts, "cpu", 1, True)
    sched = DDIMScheduler.from_config(ddim.scheduler.config)
    sched.set_timesteps(steps)
    gap = sched.config.num_train_timesteps // steps
    for i in (steps - 1, steps // 2, 0):  # step i: states[i] -> states[i + 1] at timestep t
        t = int(sched.timesteps[i])
        a_t = sched.alphas_cumprod[t]
        a_p = sched.alphas_cumprod[t - gap] if t - gap >= 0 else sched.final_alpha_cumprod
        known = states[i + 1]
        x = _noisier(known, guided_noise(ddim.unet, known, t, cond, uncond, g), a_t, a_p)
        damped = x.clone()
        out = [f"k0 {relative_error(x, states[i]):.4f}"]
        for k in range(1, 21):
            x = _noisier(known, guided_noise(ddim.unet, x, t, cond, uncond, g), a_t, a_p)
            step = _noisier(known, guided_noise(ddim.unet, damped, t, cond, uncond, g), a_t, a_p)
            damped = 0.5 * damped + 0.5 * step
            if k in (1, 3, 10, 20):
                out.append(
                    f"k{k} {relative_error(x, states[i]):.4f} (damped {relative_error(damped, states[i]):.4f})"
                )
        print(f"guidance {g} step {i} t {t}: " + " | ".join(out), flush=True)


if __name__ == "__main__":
    main()
