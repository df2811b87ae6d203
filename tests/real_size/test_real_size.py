"""Every module at real size (SD-1.5 / SD-2.1-base / CLIP ViT-L/14 / BLIP-base shapes, random weights,
fp32, 512 px), loaded from ``save_pretrained`` folders through the project's loaders; one step each, in
its own process so that its peak memory is its own. Marker ``real_size``: ``make test-real-size``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, SCRIPT

pytestmark = pytest.mark.real_size

MODULES = [
    "stock_sd15",
    "stock_sd21",
    "freecustom",
    "box_guidance",
    "regions",
    "retrieval_reference",
    "retrieval_conditioned",
    "retrieval_blend",
    "paraphrase",
    "treering",
    "gaussian_shading",
    "masterprint_latent",
    "masterprint_pixels",
]


def _all_cores() -> dict[str, str]:
    """The environment with every core for torch (the test session runs on one thread);
    ``REAL_SIZE_THREADS`` sets another count."""
    threads = os.environ.get("REAL_SIZE_THREADS") or str(os.cpu_count() or 1)
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def test_the_list_is_every_module():
    sys.path.insert(0, str(SCRIPT.parent))
    from real_size_modules import MODULES as REGISTERED

    assert sorted(REGISTERED) == sorted(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_one_step_at_real_size(module, real_models):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "run", module, "--models", str(real_models)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_all_cores(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"\n{module}: {row['step_s']:.1f} s / step, {row['call_s']:.1f} s / call, "
        f"peak RSS {row['peak_gib']:.1f} GiB ({row['threads']} threads)"
    )
    if os.environ.get("REAL_SIZE_OUT"):
        with open(os.environ["REAL_SIZE_OUT"], "a") as f:
            f.write(json.dumps(row) + "\n")
    assert row["step_s"] > 0 and math.isfinite(row["call_s"]) and row["peak_gib"] > 1.0
    if module == "box_guidance":
        assert row["attention_side"] == 16
