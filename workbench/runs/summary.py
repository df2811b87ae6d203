"""``report.html`` of a run folder: the experiment's saved sections plus the run's own record."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from workbench.report import Report


def run_info_sections(run_dir: str | Path) -> list[dict[str, Any]]:
    """Report sections describing the run (status, seed, git revision, versions, inputs, config),
    built from ``run.json``, ``metrics.json`` and ``config.yaml``."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "run.json")
    sections: list[dict[str, Any]] = []
    metrics = _read_json(run_dir / "metrics.json")
    if metrics:
        sections.append({"type": "metrics", "title": "Metrics (metrics.json)", "metrics": metrics})
    git = info.get("git") or {}
    rows = [
        {"field": "experiment", "value": info.get("experiment")},
        {"field": "status", "value": info.get("status")},
        {"field": "seed", "value": info.get("seed")},
        {"field": "started", "value": info.get("started")},
        {"field": "finished", "value": info.get("finished")},
        {"field": "resumed", "value": ", ".join(info.get("resumed", [])) or "no"},
        {"field": "git revision", "value": f"{git.get('revision')}{' (dirty)' if git.get('dirty') else ''}"},
        {"field": "host", "value": info.get("hostname")},
        {"field": "command", "value": " ".join(info.get("command", []))},
        {"field": "runtime", "value": json.dumps(info.get("runtime", {}))},
    ]
    sections.append({"type": "table", "title": "Run", "rows": rows, "caption": str(run_dir)})
    versions = info.get("versions") or {}
    if versions:
        rows = [
            {"package": k, "version": v if v is not None else "(not installed)"} for k, v in versions.items()
        ]
        sections.append({"type": "table", "title": "Package versions", "rows": rows})
    inputs = info.get("inputs") or {}
    if inputs:
        rows = [{"input": k, "sha256": v} for k, v in inputs.items()]
        sections.append({"type": "table", "title": "Inputs", "rows": rows})
    config = run_dir / "config.yaml"
    if config.is_file():
        text = html.escape(config.read_text(encoding="utf-8"))
        sections.append({"type": "html", "title": "Config (config.yaml)", "html": f"<pre>{text}</pre>"})
    return sections


def write_run_report(run_dir: str | Path, report: Report | None = None) -> Path:
    """(Re)write ``run_dir/report.html`` from ``report`` or from the sections saved in ``report/``."""
    run_dir = Path(run_dir)
    if report is None:
        folder = run_dir / "report"
        if (folder / "sections.json").is_file():
            report = Report.load(folder)
        else:
            if not (run_dir / "run.json").is_file():
                raise FileNotFoundError(f"{str(run_dir)!r} is not a run folder (no run.json)")
            report = Report(title=run_dir.name)
            report.add_text("The experiment saved no report sections (it may have been interrupted).")
    return report.write(run_dir / "report.html", extra_sections=run_info_sections(run_dir))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
