"""What a new user waits for: ``workbench --help`` and the tour (``make tour``), timed as whole commands.

    python benchmarks/bench_first_hour.py [--repeats 5] [--no-tour]

Prints the median wall time of ``workbench --help`` over ``--repeats`` runs (target: under 1 s on an idle
machine) and the tour's wall time (target: about a minute on 2 cores), with the machine's load average
before each, so a busy machine's numbers can be told apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_TARGET_S = 1.0
TOUR_TARGET_S = 60.0


def _timed(
    command: list[str], env: dict[str, str], timeout: float
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    return time.perf_counter() - start, proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of `workbench --help` (median taken)")
    parser.add_argument("--no-tour", action="store_true", help="time `workbench --help` only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    workbench = [sys.executable, "-m", "workbench.cli"]
    result: dict[str, object] = {"load_before": os.getloadavg()[0], "cores": os.cpu_count()}
    times = []
    for _ in range(max(1, args.repeats)):
        seconds, proc = _timed([*workbench, "--help"], env, 120)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        times.append(seconds)
    result["help_seconds"] = statistics.median(times)
    result["help_stderr_lines"] = len([line for line in proc.stderr.splitlines() if line.strip()])
    if not args.no_tour:
        result["tour_load_before"] = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as out:
            seconds, proc = _timed([*workbench, "run", "examples/tour.yaml", "--output-dir", out], env, 3600)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        result["tour_seconds"] = seconds
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"load average before: {result['load_before']:.2f} on {result['cores']} cores")
    print(
        f"workbench --help: {result['help_seconds']:.2f} s median of {len(times)} "
        f"(target < {HELP_TARGET_S:g} s; {result['help_stderr_lines']} line(s) on stderr)"
    )
    if "tour_seconds" in result:
        print(f"tour: {result['tour_seconds']:.1f} s (target about {TOUR_TARGET_S:g} s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
