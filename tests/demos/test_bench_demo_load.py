"""The demo load benchmark runs end to end with its smallest settings: every request is served or
refused with the queue's message, and it stops by itself."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("httpx")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_demo_load.py"


def test_the_load_benchmark_runs_with_four_clients(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_demo_load", BENCH)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_demo_load", bench)  # its dataclasses look themselves up
    spec.loader.exec_module(bench)
    code = bench.main(["--clients", "4", "--in-process", "--attack", "jpeg", "--timeout", "120"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 clients: " in out and "0 failed" in out and "server RSS" in out
