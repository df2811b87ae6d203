"""CLIPMasterPrints demo: mine one image that a CLIP model ranks above real images for many prompts.

Choose the prompts (or a preset list), the optimiser, the search space and the budget; watch the loss
and the image while mining; read the per-prompt table (master image vs the best real image of each
prompt's class, rendered by the toy world). Stop at any time; mining again with the same settings
resumes from where it stopped (a larger budget continues further); Reset starts over.

Run it alone with ``python -m apps.masterprints_demo`` or through the hub (``workbench demo``).
The handlers are plain functions (:class:`MiningJob`), testable without a browser.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from apps import demo_output_dir, register_demo

logger = logging.getLogger(__name__)

NAME = "masterprints"
PRESETS: dict[str, list[str]] = {
    "toy: 25 colour-shape classes": [
        "a red circle", "a red star", "a red triangle", "a green square", "a green cross", "a green diamond",
        "a blue circle", "a blue triangle", "a blue cross", "a yellow star", "a yellow square", "a yellow diamond",
        "a purple circle", "a purple cross", "a purple square", "an orange triangle", "an orange star",
        "an orange diamond", "a white circle", "a white square", "a white star", "a cyan cross", "a cyan triangle",
        "a cyan diamond", "a green circle",
    ],
    "toy: 6 red and blue shapes": ["a red circle", "a red square", "a red star", "a blue circle", "a blue square", "a blue star"],
    "toy: every colour of the circle": [f"a {c} circle" for c in ("red", "green", "blue", "yellow", "purple", "orange", "white", "cyan")],
}  # fmt: skip
CUSTOM = "custom (the text box)"
UPDATE_SECONDS = 1.0  # at most one live update per second
MAX_DEMO_EVALUATIONS = 200_000
MAX_DEMO_SECONDS = 3600.0


@dataclass
class MiningRequest:
    """The demo's form, validated into an attack config by :meth:`to_attack`."""

    prompts_text: str = ""
    preset: str = CUSTOM
    model: str = "toy"
    vae: str = "toy"
    optimizer: str = "adam"
    space: str = "vae_latent"
    evaluations: int = 2000
    seconds: float = 300.0
    lr: float = 0.05
    popsize: int = 24
    seed: int = 0

    def prompts(self) -> list[str]:
        if self.preset != CUSTOM:
            if self.preset not in PRESETS:
                raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
            return list(PRESETS[self.preset])
        lines = [line.strip() for line in (self.prompts_text or "").splitlines() if line.strip()]
        if not lines:
            raise ValueError("no prompts: write one prompt per line in the text box, or choose a preset")
        return lines

    def to_attack(self):
        from attacks.masterprints import OPTIMIZERS
        from attacks.masterprints.config import AttackConfig

        if not self.evaluations or self.evaluations <= 0 or self.evaluations > MAX_DEMO_EVALUATIONS:
            raise ValueError(
                f"the budget must be between 1 and {MAX_DEMO_EVALUATIONS} evaluations, got {self.evaluations}"
            )
        if not self.seconds or self.seconds <= 0 or self.seconds > MAX_DEMO_SECONDS:
            raise ValueError(
                f"the time limit must be between 1 and {MAX_DEMO_SECONDS:.0f} seconds, got {self.seconds}"
            )
        cls = OPTIMIZERS.get(self.optimizer)
        optimizer: dict[str, Any] = {"name": self.optimizer}
        if cls.needs_gradients and self.optimizer != "pgd":
            optimizer.update(lr=float(self.lr), population=4)
        elif not cls.needs_gradients:
            optimizer.update(popsize=int(self.popsize))
        elif self.space == "vae_latent":  # pgd in a latent: no uint8 grid
            optimizer.update(quantize=False, step=float(self.lr))
        space: dict[str, Any] = {"name": self.space}
        if self.space == "pixels" and not cls.needs_gradients:
            space["param_size"] = 16  # black-box search in 768 dims instead of 12,288
        return AttackConfig(
            prompts=self.prompts(),
            optimizer=optimizer,
            space=space,
            budget={"evaluations": int(self.evaluations), "seconds": float(self.seconds)},
            checkpoint_every=5.0,
        )


class MiningJob:
    """One visitor of the page: its models, its checkpoint folder, its stop flag.

    Args:
        folder: where this job writes (its checkpoint and the mined image).
    """

    _models: dict[tuple[str, str], Any] = {}  # shared across jobs: (kind, name) -> model
    _lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop_event = threading.Event()
        self.banks: dict[str, Any] = {}

    @classmethod
    def model(cls, kind: str, name: str, runtime):
        from attacks.masterprints.models import load_scorer, load_vae

        with cls._lock:
            key = (kind, name)
            if key not in cls._models:
                cls._models[key] = load_scorer(name, runtime) if kind == "clip" else load_vae(name, runtime)
            return cls._models[key]

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / "mining.safetensors"

    def reset(self) -> str:
        self.stop_event.set()
        self.checkpoint_path.unlink(missing_ok=True)
        return "Reset: the next run starts from scratch."

    def stop(self) -> str:
        self.stop_event.set()
        return "Stopping after the current step; mine again to resume."

    def mine(
        self, request: MiningRequest
    ) -> Iterator[tuple[str, torch.Tensor | None, list[list[Any]], dict[str, list[float]]]]:
        """Mine, yielding ``(status, image (3, H, W) or None, table rows, loss curve)`` about once a second."""
        from attacks.masterprints import FileCheckpoint, mine
        from attacks.masterprints.assemble import build_setup
        from attacks.masterprints.config import ModelsConfig
        from attacks.masterprints.evaluation import RealImageBank, evaluate_fooling
        from attacks.masterprints.toy_images import ToyWorldImages
        from workbench.runtime import Runtime

        attack = request.to_attack()
        runtime = Runtime(seed=int(request.seed), device=None)
        scorer = self.model("clip", request.model, runtime)
        vae = self.model("vae", request.vae, runtime) if request.space == "vae_latent" else None
        setup = build_setup(
            attack, ModelsConfig(clip=request.model, vae=request.vae), runtime, scorer=scorer, vae=vae
        )
        real = ToyWorldImages(size=setup.image_size, per_prompt=32)
        bank = self.banks.setdefault(f"{request.model}/{setup.image_size}", RealImageBank(scorer, real))
        self.stop_event.clear()

        updates: list = []
        last = [0.0]

        def on_step(progress) -> None:
            now = time.perf_counter()
            if now - last[0] >= UPDATE_SECONDS:
                last[0] = now
                updates.append(progress)

        result_box: dict[str, Any] = {}

        def work() -> None:
            try:
                result_box["result"] = mine(
                    setup.optimizer,
                    attack.budget,
                    checkpoint=FileCheckpoint(self.checkpoint_path),
                    checkpoint_every=attack.checkpoint_every,
                    callback=on_step,
                    should_stop=self.stop_event.is_set,
                )
            except BaseException as exc:  # surfaced to the page below
                result_box["error"] = exc

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        yield (
            "Loading models and resuming if a checkpoint matches...",
            None,
            [],
            {"evaluations": [], "best_loss": []},
        )
        curve: dict[str, list[float]] = {"evaluations": [], "best_loss": []}
        try:
            while thread.is_alive() or updates:
                thread.join(timeout=UPDATE_SECONDS / 2)
                if not updates:
                    continue
                p = updates[-1]
                updates.clear()
                curve["evaluations"].append(p.evaluations)
                curve["best_loss"].append(p.best_loss)
                image = (
                    setup.optimizer.best_image()[0].cpu() if setup.optimizer.best_params is not None else None
                )
                rows = (
                    self._table(scorer, image, setup.prompts, bank, evaluate_fooling)
                    if image is not None
                    else []
                )
                yield (
                    f"Mining: step {p.step}, {p.evaluations} images scored, best loss {p.best_loss:.4f}, {p.seconds:.0f} s",
                    image,
                    rows,
                    dict(curve),
                )
        finally:
            if thread.is_alive():  # the page went away: stop cleanly (the checkpoint keeps the state)
                self.stop_event.set()
                thread.join()
        if "error" in result_box:
            raise result_box["error"]
        result = result_box["result"]
        image = result.image[0].cpu()
        self._save(image)
        rows = self._table(scorer, image, setup.prompts, bank, evaluate_fooling)
        outranked = sum(1 for r in rows if r[4])
        curve = result.loss_curve()
        verb = {"stopped": "Stopped", "seconds": "Time is up", "evaluations": "Done"}[result.stop_reason]
        status = (
            f"{verb}: {result.evaluations} images scored in {result.wall_seconds:.0f} s; the image outranks every real image "
            f"for {outranked} of {len(rows)} prompts. Mine again to resume (raise the budget to go further)."
        )
        yield status, image, rows, {"evaluations": curve["evaluations"], "best_loss": curve["best_loss"]}

    @staticmethod
    def _table(scorer, image, prompts, bank, evaluate_fooling) -> list[list[Any]]:
        report = evaluate_fooling(scorer, image[None], prompts, bank)
        return [
            [
                r.prompt,
                round(r.master_score, 4),
                round(r.best_real_score, 4),
                round(r.fooling_accuracy, 3),
                r.outranks,
            ]
            for r in report.per_prompt
        ]

    def _save(self, image: torch.Tensor) -> Path:
        from workbench.io import save_image

        return save_image(self.folder / "master.png", image)


_JOBS: dict[str, MiningJob] = {}


def job_for(key: str | None) -> tuple[str, MiningJob]:
    """The job of ``key`` (a new one, with a new key, when ``None``)."""
    key = key or uuid.uuid4().hex[:12]
    if key not in _JOBS:
        _JOBS[key] = MiningJob(demo_output_dir(NAME) / key)
    return key, _JOBS[key]


def loss_plot(curve: dict[str, list[float]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.plot(curve.get("evaluations", []), curve.get("best_loss", []))
    ax.set_xlabel("images scored")
    ax.set_ylabel("best loss")
    fig.tight_layout()
    plt.close(fig)
    return fig


TABLE_HEADERS = ["prompt", "master score", "best real score", "fooling accuracy", "outranks all"]


@register_demo(
    NAME,
    title="CLIPMasterPrints",
    description="Mine one image that CLIP ranks above real images for many prompts; stop, resume, read the per-prompt scores.",
)
def build():
    """The demo's ``gr.Blocks`` (models load lazily, on the first run)."""
    import gradio as gr

    from attacks.masterprints import OPTIMIZERS, SPACES

    def run(key, prompts_text, preset, model, optimizer, space, evaluations, seconds, lr, popsize, seed):
        key, job = job_for(key)
        request = MiningRequest(
            prompts_text,
            preset,
            model,
            "toy" if model == "toy" else "dummy",
            optimizer,
            space,
            evaluations,
            seconds,
            lr,
            popsize,
            seed,
        )
        try:
            for status, image, rows, curve in job.mine(request):
                yield (
                    key,
                    status,
                    image.permute(1, 2, 0).numpy() if image is not None else None,
                    rows,
                    loss_plot(curve),
                )
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            raise gr.Error(str(exc)) from exc

    def stop(key):
        return job_for(key)[1].stop() if key else "Nothing is running."

    def reset(key):
        return job_for(key)[1].reset() if key else "Nothing to reset."

    with gr.Blocks(title="CLIPMasterPrints", analytics_enabled=False) as demo:
        gr.Markdown("# CLIPMasterPrints\n" + __doc__.split("\n\n")[1])
        key = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                preset = gr.Dropdown([CUSTOM, *PRESETS], value=next(iter(PRESETS)), label="Prompts")
                prompts_text = gr.Textbox(
                    lines=6, label="Custom prompts (one per line)", placeholder="a red circle\na blue star"
                )
                model = gr.Dropdown(["toy", "dummy"], value="toy", label="CLIP model (dummy: random weights)")
                optimizer = gr.Dropdown(OPTIMIZERS.names(), value="adam", label="Optimiser")
                space = gr.Dropdown(SPACES.names(), value="vae_latent", label="Search space")
                with gr.Row():
                    evaluations = gr.Number(2000, precision=0, label="Budget (images scored)")
                    seconds = gr.Number(300, label="Time limit (s)")
                with gr.Row():
                    lr = gr.Number(0.05, label="Learning rate / PGD step")
                    popsize = gr.Number(24, precision=0, label="Population (black-box)")
                    seed = gr.Number(0, precision=0, label="Seed")
                with gr.Row():
                    go = gr.Button("Mine / resume", variant="primary")
                    halt = gr.Button("Stop")
                    clear = gr.Button("Reset")
            with gr.Column(scale=1):
                status = gr.Markdown("Choose the prompts and press *Mine*.")
                image = gr.Image(label="Master image", type="numpy", format="png", height=256)
                plot = gr.Plot(label="Loss")
        table = gr.Dataframe(
            headers=TABLE_HEADERS, label="Per prompt: master image vs the best real image", interactive=False
        )
        inputs = [key, prompts_text, preset, model, optimizer, space, evaluations, seconds, lr, popsize, seed]
        go.click(
            run,
            inputs,
            [key, status, image, table, plot],
            concurrency_id="masterprints-mining",
            concurrency_limit=1,
        )
        halt.click(stop, [key], [status], queue=False)
        clear.click(reset, [key], [status], queue=False)
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
