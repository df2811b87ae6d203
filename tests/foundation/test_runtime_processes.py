"""The runtime's process layout and autocast option, without launching processes."""

from __future__ import annotations

import pytest
import torch

from workbench.config import ConfigError, load_config
from workbench.runtime import Runtime, launched, use_cpu_processes

LAUNCH_VARS = ("LOCAL_RANK", "WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*LAUNCH_VARS, "ACCELERATE_USE_CPU"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_launched_process_without_an_accelerator_is_a_cpu_process(clean_env):
    assert not launched() and not use_cpu_processes(None)  # one plain process: accelerate decides
    clean_env.setenv("LOCAL_RANK", "1")
    clean_env.setenv("WORLD_SIZE", "2")
    assert launched()
    if torch.cuda.is_available():
        assert not use_cpu_processes(None)  # each process its GPU, over NCCL
    else:
        assert use_cpu_processes(None)  # CPU processes over gloo, not N one-process runs
    assert use_cpu_processes("cpu")


def test_accelerate_use_cpu_and_explicit_devices(clean_env):
    clean_env.setenv("ACCELERATE_USE_CPU", "true")  # what `accelerate launch --cpu` sets
    assert use_cpu_processes(None)
    assert not use_cpu_processes("cuda:0")  # an explicit device wins
    clean_env.setenv("ACCELERATE_USE_CPU", "False")
    assert not use_cpu_processes(None)


def test_autocast_option_runs_matmuls_in_bf16_with_fp32_weights():
    rt = Runtime(seed=0, device="cpu", autocast="bf16")
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with rt.autocast():
        y = layer(x)
    assert layer.weight.dtype == torch.float32 and y.dtype == torch.bfloat16
    assert rt.describe()["autocast"] == "bf16"
    with Runtime(seed=0, device="cpu").autocast():  # off by default: fp32
        assert layer(x).dtype == torch.float32
    assert torch.allclose(y.float(), layer(x), atol=0.05)


def test_autocast_option_refuses_what_cannot_run():
    with pytest.raises(ValueError, match="autocast 'fp16' is not supported on the CPU"):
        Runtime(seed=0, device="cpu", autocast="fp16")
    with pytest.raises(ValueError, match="autocast must be"):
        Runtime(seed=0, device="cpu", autocast="int8")
    with pytest.raises(ConfigError, match="runtime.autocast"):
        load_config("examples/smoke.yaml", ["runtime.autocast=fp8"])
    assert load_config("examples/smoke.yaml", ["runtime.autocast=bf16"]).runtime.autocast == "bf16"


def test_a_metric_built_not_to_sync_reads_only_its_own_values():
    """``sync_on_compute=False``: ``per_item`` and ``compute`` never enter a collective call, even where a
    process group is said to exist (here none does, so a sync would raise)."""
    from metrics.adversarial.fooling import FoolingAccuracy

    local = FoolingAccuracy(sync_on_compute=False, distributed_available_fn=lambda: True)
    local.add_values(torch.tensor([1.0, 0.0, 1.0]))
    assert local.per_item().tolist() == [1.0, 0.0, 1.0]
    assert float(local.compute()) == pytest.approx(2 / 3)
    synced = FoolingAccuracy(distributed_available_fn=lambda: True)
    synced.add_values(torch.tensor([1.0]))
    with pytest.raises((RuntimeError, ValueError)):  # it tries to gather: the default for sharded data
        synced.per_item()
