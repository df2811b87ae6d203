"""Why do the boxes not lower the toy GLIGEN's loss? Two measurements on the toy SD (needs it trained):

1. Do the visual tokens entering each fuser know where they are? Held-out R^2 of a linear probe of their
   (row, column) on noisy held-out scenes (:func:`generators.layout.gligen.probe.position_r2`).
2. What can the boxes give? ``GligenTrainer.evaluate`` losses (EMA weights, 64 held-out scenes, the same
   noise): with and without the boxes, and the toy SD alone on position-free captions and on captions with
   positions (the most that knowing the places can lower the loss).

    OMP_NUM_THREADS=1 python benchmarks/gligen_diagnostics.py                       # the fresh gated toy SD
    OMP_NUM_THREADS=1 python benchmarks/gligen_diagnostics.py --checkpoint CKPT.pt  # a training checkpoint
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from workbench import argtypes  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=None, help="a train-gligen checkpoint.pt")
    ap.add_argument(
        "--batches",
        type=argtypes.bounded_int(2, 1000),
        default=4,
        help="held-out batches of 16 scenes for the probe (at least 2: the probe fits half, scores the other)",
    )
    args = ap.parse_args(argv)
    if args.checkpoint is not None and not args.checkpoint.is_file():
        print(
            f"error: --checkpoint {args.checkpoint} does not exist (a train-gligen checkpoint.pt)",
            file=sys.stderr,
        )
        return 2
    from generators.layout.gligen.box_attention import checkpoint_has_box_attention
    from generators.layout.gligen.positional import checkpoint_has_token_positions
    from generators.layout.gligen.probe import fuser_inputs, position_r2
    from generators.layout.train_gligen import GligenTrainer

    state = None
    if args.checkpoint is not None:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    positional = state is not None and checkpoint_has_token_positions(state["trainer"]["grounding"])
    boxed = state is not None and checkpoint_has_box_attention(state["trainer"])
    trainer = GligenTrainer(
        batch_size=16,
        eval_images=0,
        token_positions=positional,
        box_attention=boxed,
        class_phrases=state is not None and bool(state["trainer"].get("class_phrases", False)),
    )
    if state is not None:
        trainer.load_state_dict(state["trainer"])
    out: dict = {
        "step": state["step"] if state else 0,
        "positional_fusers": positional,
        "box_attention": boxed,
        "position_r2": {},
    }
    for name, tokens in fuser_inputs(trainer, args.batches).items():
        out["position_r2"][f"{name} {math_side(tokens)}"] = {
            k: [round(v, 3) for v in vs] for k, vs in position_r2(tokens).items()
        }
    trainer.batch_size = 32
    losses = trainer.evaluate()
    losses["boxes_gain_pct"] = 100 * (1 - losses["val_loss"] / losses["val_loss_no_boxes"])
    losses["positions_gain_pct"] = 100 * (1 - losses["val_loss_toy_sd_positions"] / losses["val_loss_toy_sd"])
    out["losses"] = {k: round(v, 6) for k, v in losses.items()}
    print(json.dumps(out, indent=1))
    return 0


def math_side(tokens: torch.Tensor) -> str:
    side = int(tokens.shape[1] ** 0.5)
    return f"{side}x{side}"


if __name__ == "__main__":
    sys.exit(main())
