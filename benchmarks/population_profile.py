"""Where one candidate's score time goes, one at a time vs batched (``bench_population.py --profile``).

The score of a population is split into the stages :meth:`MultiPromptObjective.loss` runs through the
black-box view of a :class:`CLIPScorer`:

- ``preprocess``: :class:`ClipPreprocess` (resize / crop when the size differs, normalise), a tensor op on
  the whole batch;
- ``image encoder``: the vision tower and projection, split with ``torch.profiler`` into its matrix
  products (linear layers, attention, the patch convolution), its element-wise ops and norms (GELU,
  residual adds, layer norms, copies), and what is left of the stage's wall time: Python and op dispatch;
- ``similarity + objective``: normalisation, the `(B, D) x (D, P)` product and the aggregation;
- ``text side``: how often the text tower runs per call (it must be 0: the prompt embeddings are computed
  once, when the objective is built) and what that one-off computation costs;
- ``per-call overhead``: the rest of the call (the black-box wrapper, its checks and counters, the
  objective's bookkeeping).

Times are CPU milliseconds per candidate (this process's CPU time, all its threads: on a shared machine the
time other processes take the cores from it is not counted), the least of interleaved repeats. The encoder's
split applies the shares of its ops in ``torch.profiler`` runs (medians of as many) to its CPU time; the
profiler slows every op a little, so the shares of the ops are upper bounds and Python + dispatch a lower
bound.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from attacks.masterprints.scorers.base import pooled

# aten ops that do a model's matrix products (everything else the profiler sees is element-wise, a norm or a copy)
MATMUL_OPS = {
    "aten::addmm",
    "aten::mm",
    "aten::bmm",
    "aten::baddbmm",
    "aten::matmul",
    "aten::mkldnn_convolution",
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_softmax",
}
# bookkeeping ops that move no data (their time is dispatch, counted with Python)
VIEW_OPS = {
    "aten::view",
    "aten::transpose",
    "aten::as_strided",
    "aten::t",
    "aten::expand",
    "aten::reshape",
    "aten::_reshape_alias",
    "aten::unsqueeze",
    "aten::unsqueeze_",
    "aten::permute",
    "aten::slice",
    "aten::select",
    "aten::empty",
    "aten::empty_strided",
    "aten::detach",
    "aten::alias",
    "aten::linear",
    "aten::layer_norm",
    "aten::scaled_dot_product_attention",
    "aten::to",
    "aten::contiguous",
    "aten::flatten",
    "aten::dropout",
    "aten::lift_fresh",
    "aten::result_type",
}


class _Stages:
    """The stages of one scoring call, run one after the other (the same ops as ``objective.loss``)."""

    def __init__(self, objective, scorer, text_emb: torch.Tensor) -> None:
        self.objective, self.scorer, self.text_emb = objective, scorer, text_emb

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return self.scorer.preprocess(images.to(self.scorer.device, torch.float32)).to(self.scorer._dtype())

    def encoder(self, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(self.scorer.model.get_image_features(pixel_values=pixels))  # (B, D)

    def similarity(self, emb: torch.Tensor) -> torch.Tensor:
        scores = self.scorer.similarity(F.normalize(emb.float(), dim=-1), self.text_emb)  # (B, P)
        return -self.objective.aggregate(scores.float())  # (B,)


def _time(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.process_time()
    out = fn(x)
    return time.process_time() - start, out


def _stage_seconds(stages: _Stages, objective, images: torch.Tensor, batch: int) -> dict[str, float]:
    """Wall seconds of each stage for the whole of ``images``, scored ``batch`` at a time."""
    out = {"preprocess": 0.0, "image encoder": 0.0, "similarity + objective": 0.0, "total": 0.0}
    staged, whole = [], []
    for i in range(0, images.shape[0], batch):
        chunk = images[i : i + batch]
        t, pixels = _time(stages.preprocess, chunk)
        out["preprocess"] += t
        t, emb = _time(stages.encoder, pixels)
        out["image encoder"] += t
        t, loss = _time(stages.similarity, emb)
        out["similarity + objective"] += t
        staged.append(loss)
    for i in range(0, images.shape[0], batch):
        chunk = images[i : i + batch]
        t, loss = _time(objective.loss, chunk)
        out["total"] += t
        whole.append(loss)
    if not torch.allclose(torch.cat(staged), torch.cat(whole), atol=1e-5):
        raise RuntimeError(
            "the profiled stages no longer compute what objective.loss computes; update _Stages"
        )
    return out


def _op_shares(stages: _Stages, images: torch.Tensor, batch: int) -> dict[str, float]:
    """Shares of the vision tower's profiled wall time (``images`` scored ``batch`` at a time) spent in its
    matrix products, its element-wise ops and norms, and its view ops."""
    pixels = [stages.preprocess(images[i : i + batch]) for i in range(0, images.shape[0], batch)]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for p in pixels:
            stages.encoder(p)
        wall = time.perf_counter() - start
    out = {"matrix products": 0.0, "element-wise + norms": 0.0, "views": 0.0}
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        if event.key in MATMUL_OPS:
            out["matrix products"] += seconds
        elif event.key in VIEW_OPS:
            out["views"] += seconds
        else:
            out["element-wise + norms"] += seconds
    return {k: v / wall for k, v in out.items()}


def profile_paths(
    objective, scorer, text_emb: torch.Tensor, popsize: int, repeats: int, autocast: bool = False
) -> dict[str, dict[str, float]]:
    """Milliseconds per candidate of each stage, one at a time (``"one"``) and batched (``"batched"``).

    Args:
        objective: the :class:`MultiPromptObjective` over a black-box view of ``scorer``.
        scorer: the :class:`CLIPScorer` behind it.
        text_emb (`torch.Tensor` of shape `(P, D)`): the prompts' embeddings the black box holds.
        popsize: candidates per population.
        repeats: interleaved repeats (the least time of each stage is returned).
        autocast: run everything inside bf16 autocast.

    Returns:
        ``{"one": {...}, "batched": {...}}``: ms per candidate of ``preprocess``, ``image encoder``,
        ``similarity + objective``, ``per-call overhead``, ``total``, the encoder's ``matrix products``,
        ``element-wise + norms`` and ``python + dispatch``, and ``text encodes per call`` (a count).
    """
    stages = _Stages(objective, scorer, text_emb)
    images = torch.rand(popsize, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    calls = {"text": 0}
    text_tower = scorer.model.text_model

    def count(*_):
        calls["text"] += 1

    handle = text_tower.register_forward_pre_hook(count)  # counts text-tower runs during scoring
    # the warm-up, then per repeat popsize calls of one candidate and one call of all
    scoring_calls = 1 + repeats * (popsize + 1)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else torch.autocast("cpu", enabled=False)
    result = {}
    try:
        with torch.inference_mode(), ctx:
            objective.loss(images[:2])  # warm-up
            runs = {"one": [], "batched": []}
            for _ in range(repeats):
                runs["one"].append(_stage_seconds(stages, objective, images, 1))
                runs["batched"].append(_stage_seconds(stages, objective, images, popsize))
            ops = {"one": [], "batched": []}
            for _ in range(repeats):
                ops["one"].append(_op_shares(stages, images, 1))
                ops["batched"].append(_op_shares(stages, images, popsize))
        for path in ("one", "batched"):
            ms = {k: 1e3 * min(r[k] for r in runs[path]) / popsize for k in runs[path][0]}
            ms["per-call overhead"] = max(
                0.0, ms["total"] - ms["preprocess"] - ms["image encoder"] - ms["similarity + objective"]
            )
            for key in ("matrix products", "element-wise + norms"):
                ms[key] = ms["image encoder"] * statistics.median(r[key] for r in ops[path])
            ms["python + dispatch"] = max(
                0.0, ms["image encoder"] - ms["matrix products"] - ms["element-wise + norms"]
            )
            result[path] = ms
    finally:
        handle.remove()
    calls_per_score = calls["text"] / scoring_calls
    for path in result.values():
        path["text encodes per call"] = calls_per_score
    prompts = objective.prompts
    result["text once"] = {"ms": 1e3 * min(_time(scorer.encode_text, prompts)[0] for _ in range(3))}
    return result


def format_profile(result: dict[str, dict[str, float]], popsize: int, gflop: float, peak: float) -> list[str]:
    """The breakdown as printed lines, and the ceiling on the speed-up it implies (``gflop``: the score's
    GFLOP per candidate; ``peak``: the matmul GFLOP per CPU second)."""
    one, batched = result["one"], result["batched"]
    rows = [
        ("preprocess (tensor ops)", "preprocess"),
        ("image encoder", "image encoder"),
        ("  matrix products", "matrix products"),
        ("  element-wise + norms", "element-wise + norms"),
        ("  python + dispatch", "python + dispatch"),
        ("similarity + objective", "similarity + objective"),
        ("per-call overhead", "per-call overhead"),
        ("total", "total"),
    ]
    lines = [
        f"profile at popsize {popsize} (CPU ms per candidate, least of the repeats; encoder split by torch.profiler's op shares):"
    ]
    lines.append(f"{'':28s} {'one at a time':>14s} {'batched':>10s} {'one - batched':>14s}")
    for label, key in rows:
        lines.append(f"{label:28s} {one[key]:14.3f} {batched[key]:10.3f} {one[key] - batched[key]:14.3f}")
    lines.append(
        f"text side: {one['text encodes per call']:.0f} text-tower runs per scoring call (the prompts' embeddings are "
        f"cached); computing them once costs {result['text once']['ms']:.1f} ms"
    )
    floor = 1e3 * gflop / peak  # ms per candidate of the matrix products at the thread's matmul peak
    removable = one["total"] - one["matrix products"]
    lines.append(
        f"one at a time, {100 * removable / one['total']:.0f} % of a candidate's time is outside the matrix "
        f"products; batched, the matrix products run at {gflop / batched['matrix products'] * 1e3:.1f} GFLOP/s "
        f"(one at a time {gflop / one['matrix products'] * 1e3:.1f}; n x n matmul peak {peak:.1f} per CPU second)"
    )
    ew = batched["element-wise + norms"]
    lines.append(
        f"ceiling: a batched candidate needs at least its {gflop:.3f} GFLOP of matrix products at the peak, "
        f"{floor:.2f} ms: at most {one['total'] / floor:.1f}x the one-at-a-time {one['total']:.2f} ms; with its "
        f"element-wise ops as they cost batched now ({ew:.2f} ms), at most {one['total'] / (floor + ew):.1f}x "
        f"(measured now: {one['total'] / batched['total']:.1f}x)"
    )
    return lines
