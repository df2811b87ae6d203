"""Every module at real size on one GPU, in fp16 and bf16: seconds per image, evaluations per second,
peak GPU memory and the speed-up over the CPU.

    python benchmarks/gpu_suite.py                                   # fp16 and bf16, 20 steps per image
    python benchmarks/gpu_suite.py --precisions fp16 --steps 50
    python benchmarks/gpu_suite.py --cpu-baseline rows.jsonl         # a CPU run's rows (real_size.py all --out)
    python benchmarks/gpu_suite.py --json

The models (SD-1.5, SD-2.1-base, CLIP ViT-L/14, BLIP-base shapes; random weights) are built on the GPU
in memory; each module runs once with one step to warm up, then once measured with ``--steps`` steps
(mining: ``--steps`` optimiser steps). The speed-up divides the CPU's seconds per step by the GPU's
(``--cpu-baseline``, default ``benchmarks/results/real_size_cpu.jsonl``: 2 CPU cores, fp32; the CPU
figure is its CPU time per step over its threads, what the step costs on free cores). The suite stops
starting modules after ``--max-seconds`` (default 420: the whole run fits in 8 minutes).
Without a CUDA device it exits at once with status 2 and a one-line error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

DEFAULT_BASELINE = HERE / "results" / "real_size_cpu.jsonl"
NO_CUDA = "gpu_suite: no CUDA device found (torch.cuda.is_available() is False); run it on a machine with an NVIDIA GPU"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def load_baseline(path: Path | None) -> dict[str, float]:
    """``{module: CPU seconds per step}`` from a JSON-lines file of ``real_size.py`` rows (CPU time over
    threads when the row has it, else wall time)."""
    if path is None or not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "error" in row or row.get("device", "cpu") != "cpu":
            continue
        cpu = row.get("step_cpu_s")
        out[row["module"]] = cpu / row.get("threads", 1) if cpu else row["step_s"]
    return out


def measure(env, name: str, steps: int) -> dict:
    """Warm-up call with one step, then the measured call with ``steps``; the module's numbers."""
    import torch
    from real_size_env import peak_memory_gib
    from real_size_modules import MODULES

    module = MODULES[name]
    env.keep(set(module.models))
    env.steps = 1
    module.run(env)
    if env.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    env.steps = steps
    result = module.run(env)
    images = result.get("images", 1)
    return {
        "module": name,
        "what": module.what,
        "precision": env.precision,
        "steps": steps,
        **result,
        "s_per_image": result["call_s"] / images,
        "peak_gib": peak_memory_gib(env.device),
    }


def suite(
    precisions: list[str], steps: int, modules: list[str], max_seconds: float, baseline: dict
) -> list[dict]:
    """Every module in each precision until ``max_seconds`` have passed; one row each (``error`` or
    ``skipped`` when it failed or did not start in time)."""
    from real_size_env import RealSizeEnv

    start = time.perf_counter()
    rows = []
    for precision in precisions:
        env = RealSizeEnv("cuda", precision, None, steps)
        for name in modules:
            if time.perf_counter() - start > max_seconds:
                rows.append({"module": name, "precision": precision, "skipped": "time budget spent"})
                continue
            try:
                row = measure(env, name, steps)
            except Exception as exc:  # one module failing must not hide the others' numbers
                row = {"module": name, "precision": precision, "error": f"{type(exc).__name__}: {exc}"[:300]}
            if name in baseline and "step_s" in row:
                row["cpu_step_s"] = baseline[name]
                row["speedup"] = baseline[name] / row["step_s"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        env.keep(set())
    return rows


def table(rows: list[dict]) -> str:
    """A Markdown table of the suite's rows."""
    lines = [
        "| module | precision | s / image | s / step | evals / s | peak GiB | CPU / GPU per step |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r or "skipped" in r:
            lines.append(f"| {r['module']} | {r['precision']} | {r.get('error') or r['skipped']} | | | | |")
            continue
        evals = f"{r['evals_per_s']:.1f}" if "evals_per_s" in r else ""
        speed = f"{r['speedup']:.0f}x" if "speedup" in r else ""
        lines.append(
            f"| {r['module']} | {r['precision']} | {r['s_per_image']:.2f} | {r['step_s']:.3f} | {evals} | "
            f"{r['peak_gib']:.1f} | {speed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from real_size_modules import MODULES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--precisions", nargs="+", default=["fp16", "bf16"], choices=["fp16", "bf16", "fp32"])
    parser.add_argument("--steps", type=int, default=20, help="denoising (or mining) steps per measured call")
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--cpu-baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--max-seconds", type=float, default=420.0)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    if not cuda_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    rows = suite(
        args.precisions, args.steps, args.modules, args.max_seconds, load_baseline(args.cpu_baseline)
    )
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
