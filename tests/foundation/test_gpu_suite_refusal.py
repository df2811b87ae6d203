"""``benchmarks/gpu_suite.py`` imports without a GPU and refuses in one line when there is no CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_suite.py"


def _suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_cuda_is_one_clear_line_and_status_2(monkeypatch, capsys):
    suite = _suite()
    monkeypatch.setattr(suite, "cuda_available", lambda: False)
    assert suite.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0]


def test_cpu_baseline_rows_become_seconds_per_step(tmp_path):
    rows = [
        {"module": "stock_sd15", "device": "cpu", "threads": 2, "step_s": 40.0, "step_cpu_s": 24.0},
        {"module": "regions", "device": "cpu", "step_s": 9.0},
        {"module": "freecustom", "error": "boom"},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert _suite().load_baseline(path) == {"stock_sd15": 12.0, "regions": 9.0}
    assert _suite().load_baseline(tmp_path / "missing.jsonl") == {}
