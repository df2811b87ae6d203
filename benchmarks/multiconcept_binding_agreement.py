"""How well the cross-attention maps that concept binding reads (``freecustom.bind``) tell the two objects of a
composition apart: the share of the tokens inside each concept's prompted box (at the 8 x 8 grid) whose
leading concept (argmax of the maps, each divided by its maximum) is that concept, per denoising step.

Runs FreeCustom with ``bind="hard"`` on the first ``--compositions`` pairs of the class-word benchmark at a
seed (the benchmark's first image of each), records every cross-attention layer's maps of the generated
image, and scores four readings: the concept's noun alone (``"circle"``) or its phrase (``"a large circle on
the left"``, what binding uses), each from the step's own maps or from their running mean over the steps so
far (what binding uses). The recording wraps the binding's ``new_call`` / ``add`` in this script only.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/multiconcept_binding_agreement.py [--seed 0] [--compositions 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEPS = 25
GRID = 8


def _box_tokens(box, grid: int = GRID):
    import torch

    x0, y0, x1, y1 = box
    m = torch.zeros(grid, grid, dtype=torch.bool)
    r0, c0 = int(y0 * grid), int(x0 * grid)
    m[r0 : max(r0 + 1, round(y1 * grid)), c0 : max(c0 + 1, round(x1 * grid))] = True
    return m


def agreement(maps, boxes) -> float:
    """Share of the boxes' tokens whose leading concept is the box's. ``maps``: `(R, 8, 8)`."""
    rel = maps / maps.flatten(1).amax(1).clamp(min=1e-6)[:, None, None]
    lead = rel.argmax(0)  # (8, 8)
    ok = tot = 0
    for r, box in enumerate(boxes):
        m = _box_tokens(box)
        ok += int((lead[m] == r).sum())
        tot += int(m.sum())
    return ok / tot


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compositions", type=int, default=10)
    args = p.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from diffusers import DDIMScheduler

    from generators.multiconcept.concept import Concept
    from generators.multiconcept.experiment import _compositions, _references
    from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline
    from workbench.attention import binding as binding_module
    from workbench.config import load_config
    from workbench.loading.choice import build_sd_pipeline
    from workbench.runs.execute import make_runtime

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    sets = ["benchmark.concept_words=class", "benchmark.pairs=24", "benchmark.triples=0", f"seed={args.seed}"]
    cfg = load_config(ROOT / "examples/multiconcept_toy.yaml", sets)
    rt = make_runtime(cfg)
    pipe, _ = build_sd_pipeline(cfg.models.sd, rt, None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    mc = MultiConceptPipeline.from_pipe(pipe)
    mc.set_progress_bar_config(disable=True)
    comps = _compositions(cfg, rt)[: args.compositions]
    refs = _references(comps, 64, "world", None)

    calls: list[list] = []  # per UNet call: [(grid, probs (N, L)), ...]
    new_call = binding_module.ConceptBinding.new_call
    add = binding_module.ConceptBinding.add

    def recording_new_call(self):
        calls.append([])
        return new_call(self)

    def recording_add(self, probs, grid):
        calls[-1].append((tuple(grid), probs[0].detach().clone()))
        return add(self, probs, grid)

    binding_module.ConceptBinding.new_call = recording_new_call
    binding_module.ConceptBinding.add = recording_add
    scores: dict[tuple[str, str], list[list[float]]] = {}
    try:
        for c, comp in enumerate(comps):
            calls.clear()
            concepts = [Concept(refs[k][0], k.prompt, refs[k][1]) for k in comp.concepts]
            mc(comp.prompt, concepts, bind="hard", num_inference_steps=STEPS, guidance_scale=5.0,
               generator=[rt.generator("image", c, 0)], output_type="pt")  # fmt: skip
            phrases = binding_module.concept_token_indices(
                mc.tokenizer, comp.prompt, [k.prompt for k in comp.concepts]
            )
            nouns = [
                [_noun(mc.tokenizer, comp.prompt, k.prompt, ph)] for k, ph in zip(comp.concepts, phrases)
            ]
            for tokens_name, tokens in (("noun", nouns), ("phrase", phrases)):
                running = None
                for step, layers in enumerate(calls):
                    maps = 0
                    for grid, probs in layers:
                        m = torch.stack([probs[:, idx].mean(-1) for idx in tokens]).view(
                            len(tokens), 1, *grid
                        )
                        maps = (
                            maps
                            + F.interpolate(m, size=(GRID, GRID), mode="bilinear", align_corners=False)[:, 0]
                        )
                    maps = maps / len(layers)  # (R, 8, 8)
                    running = maps if running is None else running + maps
                    for reading, value in (("step", maps), ("running mean", running / (step + 1))):
                        scores.setdefault((tokens_name, reading), [[] for _ in range(len(calls))])
                        scores[(tokens_name, reading)][step].append(agreement(value, comp.boxes))
    finally:
        binding_module.ConceptBinding.new_call = new_call
        binding_module.ConceptBinding.add = add

    shown = [0, 3, 6, 9, 12, 15, 18, 21, 24]
    print(f"seed {args.seed}, {len(comps)} compositions: tokens of each box led by its own concept, by step")
    print("| tokens | maps | " + " | ".join(f"step {s}" for s in shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    for (tokens_name, reading), per_step in scores.items():
        cells = " | ".join(f"{sum(per_step[s]) / len(per_step[s]):.2f}" for s in shown)
        print(f"| {tokens_name} | {reading} | {cells} |")
    return 0


def _noun(tokenizer, prompt: str, concept_prompt: str, phrase: list[int]) -> int:
    """The position of the concept prompt's last word inside its phrase (its noun: ``"circle"``)."""
    ids = tokenizer(prompt).input_ids
    last = [
        t
        for t in tokenizer(concept_prompt).input_ids
        if t not in (tokenizer.bos_token_id, tokenizer.eos_token_id)
    ][-1]
    return next(i for i in phrase if ids[i] == last)


if __name__ == "__main__":
    sys.exit(main())
