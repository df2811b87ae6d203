"""How much the other images help a cross-image-trained toy SD (``workbench toy train unet-ref``): the denoising
error of held-out training-distribution scenes denoised beside their other images against the same scenes
denoised alone, side by side on the same noise, per timestep.

    OMP_NUM_THREADS=2 python benchmarks/bench_cross_image_gain.py [--checkpoint PATH] [--scenes 24] [--key 99999]
        [--timesteps 100 300 500 700 900] [--unmasked] [--model toyworld/models/sd-ref]

The checkpoint (default: the trainer's, ``~/.cache/workbench/toy-train/unet-ref/checkpoint.pt``) is loaded
with its EMA weights; ``--model`` takes an exported pipeline folder instead (the shipped ``sd-ref``). Scenes are batch ``--key`` of the trainer's data (a key training never reaches), one
noise draw each; only scenes that have other images count. Printed per timestep: the mean squared error of
the predicted noise over the objects' latent pixels and over all pixels, with and without the other images,
and the relative gain on the objects (what the other images show is the objects' appearance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> None:
    from toyworld.train.loop import default_work_dir, load_checkpoint, read_export_info
    from toyworld.train.unet_ref import CrossImageAttentionTrainer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=default_work_dir("unet-ref") / "checkpoint.pt")
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--key", type=int, default=99_999)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[100, 300, 500, 700, 900])
    parser.add_argument("--unmasked", action="store_true", help="other images' keys outside their object too")
    parser.add_argument(
        "--model", type=Path, default=None, help="an exported pipeline folder (e.g. models/sd-ref)"
    )
    args = parser.parse_args()

    trainer = CrossImageAttentionTrainer(batch_size=args.scenes)
    if args.model is not None:
        if not (args.model / "unet" / "config.json").exists():
            raise SystemExit(f"{args.model} is not an exported toy SD folder (no unet/config.json in it)")
        trainer.warm_start(args.model)
        info = read_export_info(args.model) or {}
        print(f"exported model {args.model} at step {info.get('steps')} ({info.get('recipe')})")
    else:
        state = load_checkpoint(args.checkpoint)
        if state is None:
            raise SystemExit(
                f"no checkpoint at {args.checkpoint}; train one with `workbench toy train unet-ref`"
            )
        trainer.load_state_dict(state["trainer"])
        trainer.ema.copy_to(trainer.unet)
        print(f"checkpoint {args.checkpoint} at step {state['step']} ({state['recipe']})")
    trainer.unet.eval()

    mean, std, ids, present, objects, pixel_masks = trainer.encoded(args.key)
    b, g = present.shape
    alone = torch.zeros_like(present)
    alone[:, 0] = True
    has = present[:, 1:].any(1)  # (B,) scenes with other images
    rows = slice(0, b * g, g)  # the scenes' rows
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        cond = trainer.text_encoder(ids)[0]  # (B*G, 77, D)
        latents = (mean + std * torch.randn(mean.shape, generator=gen)) * trainer.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=gen)
        print("t     objects with / alone   all pixels with / alone   gain on objects")
        for t_value in args.timesteps:
            t = torch.full((b * g,), t_value)
            noisy = trainer.noise_scheduler.add_noise(latents, noise, t)
            errors = {}
            for name, shown in (("with", present), ("alone", alone)):
                trainer.cross.present = shown
                if not args.unmasked:
                    trainer.cross.masks, trainer.cross.latent_hw = pixel_masks, tuple(mean.shape[-2:])
                try:
                    pred = trainer.unet(noisy, t, encoder_hidden_states=cond).sample
                finally:
                    trainer.cross.present = trainer.cross.masks = None
                err = ((pred - noise) ** 2).mean(1, keepdim=True)[rows]  # (B, 1, h, w)
                obj = objects[rows]
                on_objects = (err * obj).flatten(1).sum(1) / obj.flatten(1).sum(1).clamp(min=1)
                errors[name] = (on_objects[has].mean().item(), err.flatten(1).mean(1)[has].mean().item())
            gain = 1 - errors["with"][0] / errors["alone"][0]
            print(
                f"{t_value:<5d} {errors['with'][0]:.4f} / {errors['alone'][0]:.4f}        "
                f"{errors['with'][1]:.4f} / {errors['alone'][1]:.4f}           {100 * gain:+.1f} %"
            )


if __name__ == "__main__":
    main()
