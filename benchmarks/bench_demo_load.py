"""Load on the watermark demo: many clients at once against one worker and a bounded queue.

    python benchmarks/bench_demo_load.py                      # 50 clients, model dummy, paraphrase, 8 steps
    python benchmarks/bench_demo_load.py --clients 4 --in-process --attack jpeg

Starts the watermark demo as the hub serves it (127.0.0.1 only; a child process unless
``--in-process``), sends one warm-up request (the models load), then fires ``--clients`` requests at
once, one thread each. Every request must be served or refused with the queue's own message (the
queue holds 16; one worker runs). Prints the counts, the served requests' p50/p95 latency, and the
server's resident memory before and after the burst: the model cache is bounded, so it must not grow
by more than ``--max-rss-growth-mb``. Bounded in time (``--timeout``): it stops by itself, ending the
server it started; the exit status is 1 when a request failed otherwise or memory grew too much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUEUE_FULL = "Queue is full"


@dataclass
class Outcome:
    """One client's request: ``served``, ``queue_full`` or ``failed`` (with the reason), and its latency."""

    kind: str
    seconds: float
    detail: str = ""


@dataclass
class Report:
    """What a run measured."""

    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    wall_seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)

    def latency(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the served requests' latency in seconds (0 when none)."""
        served = sorted(o.seconds for o in self.outcomes if o.kind == "served")
        if not served:
            return 0.0
        if len(served) == 1:
            return served[0]
        return statistics.quantiles(served, n=100, method="inclusive")[round(q * 100) - 1]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request(base: str, data: list, timeout: float) -> Outcome:
    """One ``/call/run`` request and its event stream."""
    import httpx

    start = time.monotonic()
    try:
        r = httpx.post(f"{base}/call/run", json={"data": data}, timeout=timeout)
        if r.status_code != 200:
            detail = (
                r.json().get("detail", r.text)
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            kind = "queue_full" if r.status_code == 503 and QUEUE_FULL in str(detail) else "failed"
            return Outcome(kind, time.monotonic() - start, str(detail)[:200])
        stream = httpx.get(f"{base}/call/run/{r.json()['event_id']}", timeout=timeout).text
    except Exception as err:  # a client-side timeout or a dropped connection
        return Outcome("failed", time.monotonic() - start, f"{type(err).__name__}: {err}"[:200])
    last = [b for b in stream.strip().split("\n\n") if b.startswith("event:")][-1:] or [""]
    if last[0].startswith("event: complete"):
        return Outcome("served", time.monotonic() - start)
    message = last[0].partition("\ndata: ")[2]
    kind = "queue_full" if QUEUE_FULL in message else "failed"
    return Outcome(kind, time.monotonic() - start, message[:200])


def payload(args: argparse.Namespace, seed: int) -> list:
    """The watermark demo's ``run`` inputs: a prompt-generated image, dwtDctSvd, the chosen attack."""
    return [
        None,
        "a red circle",
        "dwtDctSvd",
        "",
        args.attack,
        args.strength,
        5.0,
        "",
        args.model,
        seed,
        args.steps,
    ]


def start_server(args: argparse.Namespace) -> tuple[str, int, Any]:
    """``(base url, server pid, stop)``: the watermark demo served as the hub serves it."""
    if args.in_process:
        from apps.hub import build_app
        from apps.hub import start_server as serve_in_thread

        url, stop = serve_in_thread(build_app("watermarks"))
        return url + "gradio_api", os.getpid(), stop
    from apps.hub import free_port

    port = free_port()
    code = "import sys; from apps.hub import serve; serve('watermarks', port=int(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    child = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env, cwd=ROOT)

    def stop() -> None:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()

    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + min(args.timeout, 180)
    import httpx

    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError("the demo server exited while starting")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return url + "gradio_api", child.pid, stop
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop()
    raise RuntimeError("the demo server did not answer in time")


def run(args: argparse.Namespace) -> Report:
    """Start the server, warm it up, fire the burst, measure; the server is stopped in every case."""
    report = Report(clients=args.clients)
    begin = time.monotonic()
    base, pid, stop = start_server(args)
    try:
        warm = request(base, payload(args, 0), timeout=args.timeout)
        if warm.kind != "served":
            raise RuntimeError(f"the warm-up request was not served: {warm.detail}")
        report.rss_before_mb = rss_mb(pid)
        left = max(args.timeout - (time.monotonic() - begin), 10.0)
        barrier = threading.Barrier(args.clients)
        results: list[Outcome | None] = [None] * args.clients

        def client(k: int) -> None:
            barrier.wait(timeout=30)
            results[k] = request(base, payload(args, k + 1), timeout=left)

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(left - (time.monotonic() - begin), 1.0))
        report.outcomes = [r or Outcome("failed", left, "no answer before the time limit") for r in results]
        report.rss_after_mb = rss_mb(pid)
    finally:
        stop()
    report.wall_seconds = time.monotonic() - begin
    return report


def show(report: Report, args: argparse.Namespace) -> dict[str, Any]:
    """Print the report; returns its numbers."""
    numbers = {
        "clients": report.clients,
        "served": report.count("served"),
        "refused_queue_full": report.count("queue_full"),
        "failed": report.count("failed"),
        "p50_s": round(report.latency(0.5), 3),
        "p95_s": round(report.latency(0.95), 3),
        "rss_before_mb": round(report.rss_before_mb, 1),
        "rss_after_mb": round(report.rss_after_mb, 1),
        "rss_growth_mb": round(report.rss_after_mb - report.rss_before_mb, 1),
        "wall_s": round(report.wall_seconds, 1),
    }
    print(
        f"watermark demo, model {args.model}, attack {args.attack} at {args.strength}, {args.steps} steps, "
        f"{'in process' if args.in_process else 'server process'}"
    )
    print(
        f"{numbers['clients']} clients: {numbers['served']} served, {numbers['refused_queue_full']} refused "
        f"(queue full), {numbers['failed']} failed"
    )
    print(
        f"served latency p50 {numbers['p50_s']:.2f} s, p95 {numbers['p95_s']:.2f} s; wall {numbers['wall_s']:.1f} s"
    )
    print(
        f"server RSS {numbers['rss_before_mb']:.0f} MiB before, {numbers['rss_after_mb']:.0f} MiB after "
        f"({numbers['rss_growth_mb']:+.0f} MiB)"
    )
    for outcome in report.outcomes:
        if outcome.kind == "failed":
            print(f"  failed after {outcome.seconds:.1f} s: {outcome.detail}")
    print(json.dumps(numbers))
    return numbers


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=50, help="requests fired at once (1..200)")
    p.add_argument("--model", default="dummy", help="dummy (random weights) or toy")
    p.add_argument("--attack", default="paraphrase")
    p.add_argument("--strength", type=float, default=0.4)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run")
    p.add_argument("--max-rss-growth-mb", type=float, default=300.0)
    p.add_argument("--in-process", action="store_true", help="serve from this process (faster start)")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 200:
        p.error("--clients must lie in 1..200")
    if not 10 <= args.timeout <= 3600:
        p.error("--timeout must lie in 10..3600 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    numbers = show(run(args), args)
    ok = numbers["failed"] == 0 and numbers["rss_growth_mb"] <= args.max_rss_growth_mb
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
