"""Every module at real size on CUDA in fp16 and bf16 (random weights built on the GPU), a few steps
each: finite images and the memory each takes. Marker ``gpu`` (skipped without CUDA): ``make test-gpu``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from real_size_modules import MODULES  # noqa: E402

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", params=["fp16", "bf16"])
def cuda_env(request):
    import torch
    from real_size_env import RealSizeEnv

    env = RealSizeEnv("cuda", request.param, None, steps=4)
    yield env
    env.keep(set())
    torch.cuda.empty_cache()


@pytest.mark.parametrize("module", list(MODULES))
def test_module_on_cuda(cuda_env, module):
    from gpu_suite import measure

    row = measure(cuda_env, module, steps=4)
    print(
        f"\n{module} [{cuda_env.precision}]: {row['s_per_image']:.2f} s / image, "
        f"{row['step_s'] * 1000:.0f} ms / step, peak {row['peak_gib']:.1f} GiB"
    )
    assert row["step_s"] > 0 and row["peak_gib"] < 70
