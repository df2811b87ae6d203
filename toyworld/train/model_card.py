"""Model cards written beside each exported toy model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_model_card(
    out_dir: Path, title: str, description: str, config: dict[str, Any], info: dict[str, Any]
) -> None:
    """``README.md`` + ``training.json`` in ``out_dir``: config, steps, time, measured quality, commands."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "training.json").write_text(
        json.dumps({"config": config, **info}, indent=2, sort_keys=True) + "\n"
    )
    lines = [f"# {title}", "", description, "", "## Training", ""]
    for key in ("steps", "minutes", "device", "threads", "seed", "command"):
        if key in info:
            lines.append(f"- {key}: `{info[key]}`")
    lines += ["", "## Measured quality (held-out scenes)", ""]
    for k, v in sorted(info.get("metrics", {}).items()):
        lines.append(f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}")
    if "eval_command" in info:
        lines += ["", f"Measured with: `{info['eval_command']}`"]
    lines += ["", "## Config", "", "```json", json.dumps(config, indent=2, sort_keys=True), "```", ""]
    (out_dir / "README.md").write_text("\n".join(lines))
