"""Every script in ``benchmarks/`` runs as its docs give it, at its smallest settings.

Each script is started as a user starts it (``python benchmarks/NAME.py ARGS`` from the repository root)
and must exit with status 0 and print the line its docs quote (a speed-up, a table, a summary). The
GPU-only script must end without CUDA with its one-line message and status 2, not a traceback. A new
script in ``benchmarks/`` must be added to :data:`SCRIPTS` (a fast test checks that none is missing).

Every run is ``slow`` (importing torch, diffusers and transformers alone takes seconds; ``claims_over_seeds.py``
runs a claim end to end on one seed, minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
# modules the scripts import, not scripts of their own
HELPERS = {"population_profile.py", "real_size_env.py", "real_size_modules.py"}

# script -> (smallest arguments, a string its output must contain)
SCRIPTS: dict[str, tuple[list[str], str]] = {
    "bench_autocast.py": (["--batch", "1", "--steps", "1", "--repeats", "1", "--size", "32"], "speed-up"),
    "bench_cma_separable.py": (["--size", "8", "--generations", "1", "--popsize", "4"], ""),
    "bench_cross_image_gain.py": (
        ["--model", "toyworld/models/sd-ref", "--scenes", "2", "--timesteps", "500"], "gain"),
    "bench_demo_load.py": (["--clients", "2", "--in-process", "--attack", "jpeg"], ""),
    "bench_first_hour.py": (["--repeats", "1", "--no-tour"], ""),
    "bench_kb_search.py": (
        ["--n", "2000", "--dim", "32", "--queries", "10", "--clusters", "20", "--kinds", "flat,ivf", "--nlist", "16",
         "--nprobe", "4"], "recall"),
    "bench_latent_detection.py": (
        ["--images", "2", "--steps", "2", "--inversion-steps", "2", "--decoder-steps", "0"], ""),
    "bench_layout.py": (["--steps", "1", "--batch", "1", "--repeats", "1"], ""),
    "bench_multiconcept.py": (["--model", "dummy", "--batch", "1", "--steps", "1", "--repeats", "1"], ""),
    "bench_paraphrase.py": (["--model", "dummy", "--images", "2", "--steps", "2", "--repeats", "1"], ""),
    "bench_population.py": (
        ["--popsize", "4", "--repeats", "1", "--rounds", "1", "--space", "pixels", "--generations", "1", "--profile",
         "--sweep", "2", "--threads", "1"], "ceiling:"),
    "bench_treering_inversion.py": (["--images", "2", "--steps", "2", "--variants", "ddim"], "TPR@1%FPR"),
    "bench_ssim_psnr.py": (["--n", "4", "--size", "32", "--repeats", "1", "--threads", "1"], "speed-up"),
    "claims_over_seeds.py": (["--claims", "layout", "--seeds", "0", "--output", "{tmp}/claims"], "== "),
    "gligen_diagnostics.py": (["--batches", "2"], "positions_gain_pct"),
    "gpu_suite.py": ([], ""),
    "masterprints_latent_probe.py": (
        ["--clip", "toyworld/models/clip", "--config", "examples/masterprints_adam_latent.yaml", "--seeds", "0",
         "--set", "budget.evaluations=4"], "fooling_accuracy: mean"),
    "multiconcept_binding_agreement.py": (["--compositions", "1"], "| phrase | running mean |"),
    "multiconcept_clip_t_ceiling.py": (["--seeds", "0", "--pairs", "2"], "CLIP-T ceiling"),
    "multiconcept_misses.py": (["--help"], "RUN_DIR"),  # it reads finished runs
    "real_size.py": (["table", "benchmarks/results/real_size_cpu.jsonl"], "|"),
}  # fmt: skip


def _run(name: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, str(BENCHMARKS / name), *[a.replace("{tmp}", str(tmp_path)) for a in args]]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)


def test_every_script_is_listed():
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - HELPERS
    assert scripts == set(SCRIPTS), f"add the new benchmarks to SCRIPTS: {sorted(scripts ^ set(SCRIPTS))}"


def _check(name: str, tmp_path: Path) -> None:
    import torch

    args, expected = SCRIPTS[name]
    proc = _run(name, args, tmp_path)
    if name == "gpu_suite.py" and not torch.cuda.is_available():
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no CUDA device" in proc.stderr
        return
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    assert expected in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_runs_at_its_smallest_settings(name, tmp_path):
    _check(name, tmp_path)
