"""The shared, resumable training loop of the toy models.

A trainer owns its modules and optimiser; the loop calls ``trainer.step(step)`` with a step index
(data are generated from ``(seed, step)``, so a resumed run sees exactly the data it would have
seen), checkpoints every ``checkpoint_seconds`` into ``work_dir`` (atomic: temp file + rename) and
evaluates every ``eval_every`` steps. ``work_dir`` lives outside the repository; ``export`` writes
the shipped model folder.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any, Protocol

import torch

logger = logging.getLogger(__name__)


class Trainer(Protocol):
    name: str

    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
    def step(self, step: int) -> dict[str, float]: ...
    def evaluate(self) -> dict[str, float]: ...
    def export(self, out_dir: Path, info: dict[str, Any]) -> None: ...


def default_work_dir(name: str) -> Path:
    root = Path(os.environ.get("WORKBENCH_TRAIN_DIR", Path.home() / ".cache" / "workbench" / "toy-train"))
    return root / name


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


class EMA:
    """Exponential moving average of a module's parameters (kept on the CPU, fp32)."""

    def __init__(self, module: torch.nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            if self.shadow[k].device != v.device:
                self.shadow[k] = self.shadow[k].to(v.device)
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, module: torch.nn.Module) -> None:
        module.load_state_dict({k: v.to(module.state_dict()[k].dtype).cpu() for k, v in self.shadow.items()})


def warm_start_module(module: torch.nn.Module, ema: EMA, exported: torch.nn.Module) -> None:
    """Initialise a trained module and its EMA from exported (EMA) weights."""
    state = exported.state_dict()
    module.load_state_dict(state)
    ema.shadow = {k: v.detach().clone().float() for k, v in state.items()}


def read_export_info(export_dir: Path) -> dict[str, Any] | None:
    path = export_dir / "training.json"
    return json.loads(path.read_text()) if path.exists() else None


def run_training(
    trainer: Trainer,
    work_dir: Path,
    max_steps: int,
    minutes: float | None = None,
    checkpoint_seconds: float = 300.0,
    eval_every: int = 500,
    log_every: int = 50,
    export_dir: Path | None = None,
) -> dict[str, Any]:
    """Train until ``max_steps`` or ``minutes`` of wall time, resuming from ``work_dir`` if possible."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / "checkpoint.pt"
    history_path = work_dir / "history.jsonl"
    state = load_checkpoint(ckpt_path)
    info = read_export_info(export_dir) if export_dir is not None and state is None else None
    recipe = getattr(trainer, "recipe", None)
    step, seconds = 0, 0.0
    # a checkpoint of a recipe this one continues (``resumes_recipes``: same modules, a changed objective)
    if state is not None and state.get("recipe", recipe) not in (
        recipe,
        *getattr(trainer, "resumes_recipes", ()),
    ):
        raise ValueError(
            f"{ckpt_path} was written by recipe {state['recipe']!r}, this {trainer.name} trainer's recipe is "
            f"{recipe!r}: train in another --work-dir, or delete the checkpoint to start over"
        )
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        step, seconds = state["step"], state["seconds"]
        logger.info(
            "%s: resumed from %s at step %d (%.1f min trained)", trainer.name, ckpt_path, step, seconds / 60
        )
    elif info is not None and info.get("recipe") not in (recipe, *getattr(trainer, "compatible_recipes", ())):
        logger.warning(
            "%s: the weights in %s were trained with recipe %r, this trainer's is %r: starting from scratch",
            trainer.name,
            export_dir,
            info.get("recipe"),
            recipe,
        )
    elif info is not None and hasattr(trainer, "warm_start"):
        # No checkpoint here (a new machine): continue from the shipped weights (optimiser state restarts).
        trainer.warm_start(export_dir)
        step, seconds = int(info.get("steps", 0)), float(info.get("minutes", 0.0)) * 60
        logger.info(
            "%s: warm start from the exported weights in %s at step %d", trainer.name, export_dir, step
        )
    deadline = time.monotonic() + minutes * 60 if minutes is not None else float("inf")
    last_ckpt = time.monotonic()
    t0 = time.monotonic()
    running: dict[str, float] = {}

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path, {"trainer": trainer.state_dict(), "step": step, "seconds": seconds, "recipe": recipe}
        )

    stop = {"requested": False}

    def request_stop(signum, frame) -> None:  # SIGTERM / SIGINT: checkpoint, evaluate and export, then stop
        logger.warning("%s: stop requested (signal %d); saving a checkpoint", trainer.name, signum)
        stop["requested"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while step < max_steps and time.monotonic() < deadline and not stop["requested"]:
            out = trainer.step(step)
            step += 1
            now = time.monotonic()
            seconds += now - t0
            t0 = now
            for k, v in out.items():
                running[k] = 0.9 * running.get(k, v) + 0.1 * v
            if step % log_every == 0:
                logger.info(
                    "%s step %d (%.1f min): %s",
                    trainer.name,
                    step,
                    seconds / 60,
                    ", ".join(f"{k}={v:.4f}" for k, v in running.items()),
                )
            if step % eval_every == 0:
                metrics = trainer.evaluate()
                t0 = time.monotonic()  # evaluation time is not training time
                logger.info("%s eval at step %d: %s", trainer.name, step, json.dumps(metrics))
                with open(history_path, "a") as f:
                    f.write(json.dumps({"step": step, "minutes": seconds / 60, **metrics}) + "\n")
            if now - last_ckpt > checkpoint_seconds:
                checkpoint()
                last_ckpt = time.monotonic()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    checkpoint()
    metrics = trainer.evaluate()
    logger.info("%s final eval at step %d: %s", trainer.name, step, json.dumps(metrics))
    return {"step": step, "minutes": seconds / 60, **metrics}
