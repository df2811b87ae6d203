"""The first-hour benchmark runs as the docs give it (its smallest setting)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_first_hour.py"


def test_the_help_timing_runs_and_the_help_prints_nothing_on_stderr(capsys):
    spec = importlib.util.spec_from_file_location("bench_first_hour", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--no-tour", "--repeats", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["help_seconds"] > 0 and result["help_stderr_lines"] == 0
