"""Real-size random-weight runs of every module (SD-1.5, SD-2.1-base, CLIP ViT-L/14, BLIP-base; 512 px).

    python benchmarks/real_size.py build DIR                  # write the four model folders (~12 GB, fp32)
    python benchmarks/real_size.py run MODULE --models DIR    # one module, loaded from DIR, one JSON line
    python benchmarks/real_size.py all --models DIR           # every module, each in its own process; a table
    python benchmarks/real_size.py list

``run`` loads its models from ``DIR`` through :mod:`workbench.loading` (the path a downloaded model
takes); without ``--models`` it builds them in memory on ``--device``. Peak memory is the process's
peak RSS on the CPU (hence one process per module in ``all``) and ``torch.cuda.max_memory_allocated``
on a GPU. ``make test-real-size`` runs the same through pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def build(folder: Path, names: list[str] | None = None) -> dict[str, str]:
    """Write the real-size model folders missing from ``folder``; ``{name: path}``."""
    from workbench.real_size import REAL_MODELS, save_real_model

    out = {}
    for name in names or list(REAL_MODELS):
        path = folder / name
        if not (path / ".complete").is_file():
            start = time.perf_counter()
            save_real_model(name, path)
            (path / ".complete").write_text("")
            print(f"built {name} in {time.perf_counter() - start:.0f} s -> {path}", file=sys.stderr)
        out[name] = str(path)
    return out


def run_module(
    name: str, models: Path | None, device: str = "cpu", precision: str = "fp32", steps: int = 1
) -> dict:
    """Load the module's models, run it once; its numbers with ``module``, ``peak_gib`` and ``load_s``."""
    import torch
    from real_size_env import RealSizeEnv, peak_memory_gib
    from real_size_modules import MODULES

    module = MODULES[name]
    env = RealSizeEnv(device, precision, models, steps)
    start = time.perf_counter()
    for model in sorted(module.models):
        {"clip-l14": env.clip, "blip-base": env.captioner}.get(model, lambda m=model: env.sd(m))()
    load_s = time.perf_counter() - start
    if env.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = module.run(env)
    return {
        "module": name,
        "what": module.what,
        "device": str(env.device),
        "precision": precision,
        "threads": torch.get_num_threads(),
        "steps": steps,
        "load_s": load_s,
        **result,
        "peak_gib": peak_memory_gib(env.device),
        "load1": os.getloadavg()[0],
    }


def table(rows: list[dict]) -> str:
    """A Markdown table of result rows (CPU s / step: CPU time over threads, what free cores take)."""
    lines = [
        "| module | what | s / step | CPU s / step | s / call | peak GiB | load |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['module']} | failed: {r['error']} | | | | | |")
            continue
        cpu = f"{r['step_cpu_s'] / r['threads']:.1f}" if "step_cpu_s" in r else ""
        lines.append(
            f"| {r['module']} | {r['what']} | {r['step_s']:.1f} | {cpu} | {r['call_s']:.1f} | "
            f"{r['peak_gib']:.1f} | {r.get('load1', float('nan')):.0f} |"
        )
    return "\n".join(lines)


def run_all(models: Path, modules: list[str], out: Path | None, extra: list[str]) -> list[dict]:
    """Every module in its own process (peak RSS per module); rows appended to ``out`` as JSON lines."""
    rows = []
    for name in modules:
        proc = subprocess.run(
            [sys.executable, __file__, "run", name, "--models", str(models), *extra],
            capture_output=True,
            text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        row = json.loads(lines[-1]) if proc.returncode == 0 and lines else {
            "module": name, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    from real_size_modules import MODULES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the real-size model folders")
    b.add_argument("folder", type=Path)
    for name in ("run", "all"):
        p = sub.add_parser(name)
        if name == "run":
            p.add_argument("module", choices=sorted(MODULES))
        else:
            p.add_argument("--modules", nargs="*", default=list(MODULES), choices=list(MODULES))
            p.add_argument("--out", type=Path, help="append the rows to this JSON-lines file")
        p.add_argument("--models", type=Path, help="folder from `build` (default: build in memory)")
        p.add_argument("--device", default="cpu")
        p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
        p.add_argument("--steps", type=int, default=1)
    sub.add_parser("list")
    t = sub.add_parser("table", help="the Markdown table of a JSON-lines file of rows")
    t.add_argument("rows", type=Path)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, module in MODULES.items():
            print(f"{name:24s} {module.what}  [{', '.join(sorted(module.models))}]")
    elif args.command == "table":
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
        print(table(rows))
    elif args.command == "build":
        print(json.dumps(build(args.folder)))
    elif args.command == "run":
        print(json.dumps(run_module(args.module, args.models, args.device, args.precision, args.steps)))
    else:
        if args.models is None:
            parser.error("all needs --models DIR (run `build DIR` first)")
        extra = ["--device", args.device, "--precision", args.precision, "--steps", str(args.steps)]
        rows = run_all(args.models, args.modules, args.out, extra)
        print(table(rows))
        return 1 if any("error" in r for r in rows) else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
