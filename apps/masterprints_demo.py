"""CLIPMasterPrints demo: mine one image that a CLIP model ranks above real images for many prompts.

Choose the prompts (or a preset list), the optimiser, the search space and the budget; watch the loss
and the image while mining; read the per-prompt table (master image vs the best real image of each
prompt's class, rendered by the toy world). Stop at any time; mining again with the same settings
resumes from where it stopped (a larger budget continues further); Reset starts over.

Run it alone with ``python -m apps.masterprints_demo`` or through the hub (``workbench demo``).
The handlers are plain functions (:class:`MiningJob`), testable without a browser. Every input is
bounded (:meth:`MiningRequest.check`); a run stops by itself shortly before the demo's per-request
limit (:mod:`apps.limits`), its checkpoint kept, so mining again resumes it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from apps import demo_output_dir, limits, register_demo
from apps.cache import LRUCache
from apps.models import resolve_demo_model

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
CLAIM = (
    "Measured on the toy CLIP (docs/masterprints.md): with these settings the 25 colour-shape classes are all "
    "outranked after 6,000 images scored; 2,000 (the default budget) reach 16 of 25."
)
MAX_DEMO_SECONDS = 3600.0
MAX_PROMPT_LINES = 1024  # attacks.masterprints.prompts.MAX_PROMPTS
MAX_PROMPT_LINE_CHARS = 200
LR_RANGE = (0.0, 1.0)  # open below: a learning rate (or PGD step) of 0 never moves
POPSIZE_RANGE = (2, 256)
MAX_JOBS = 64  # visitors whose jobs (checkpoint folder, real-image banks) stay in memory
MAX_CACHED_MODELS = 4  # (kind, name) pairs: two CLIPs and their VAEs
MODEL_CHOICES = ("toy", "dummy")
END_MARGIN_SECONDS = 5.0  # a run stops this long before the request limit, to score and save
_KEY = re.compile(r"^[0-9a-f]{12}$")


@dataclass
class MiningRequest:
    """The demo's form, validated into an attack config by :meth:`to_attack`."""

    prompts_text: str = ""
    preset: str = CUSTOM
    model: str = "toy"
    vae: str = "toy"
    optimizer: str = "adam"
    space: str = "pixels"
    evaluations: int = 2000
    seconds: float = 300.0
    lr: float = 0.05
    popsize: int = 24
    seed: int = 0

    def prompts(self) -> list[str]:
        if self.preset != CUSTOM:
            limits.choice("preset", self.preset, list(PRESETS))
            return list(PRESETS[self.preset])
        if not isinstance(self.prompts_text, str | None):
            raise limits.InputError("the prompts must be text, one prompt per line")
        lines = [line.strip() for line in (self.prompts_text or "").splitlines() if line.strip()]
        if not lines:
            raise ValueError("no prompts: write one prompt per line in the text box, or choose a preset")
        if len(lines) > MAX_PROMPT_LINES:
            raise limits.InputError(f"{len(lines)} prompts, more than the limit of {MAX_PROMPT_LINES}")
        longest = max(len(line) for line in lines)
        if longest > MAX_PROMPT_LINE_CHARS:
            raise limits.InputError(
                f"a prompt has {longest} characters; the demo takes at most {MAX_PROMPT_LINE_CHARS} per line"
            )
        return lines

    def check(self) -> MiningRequest:
        """The request with every field within the demo's bounds (models resolved), else ``ValueError``."""
        from attacks.masterprints import OPTIMIZERS, SPACES  # deferred: numpy

        return replace(
            self,
            preset=limits.choice("preset", self.preset, [CUSTOM, *PRESETS]),
            model=resolve_demo_model(self.model, kind="clip", names=MODEL_CHOICES),
            vae=resolve_demo_model(self.vae, kind="sd", names=MODEL_CHOICES),
            optimizer=limits.choice("optimiser", self.optimizer, OPTIMIZERS.names()),
            space=limits.choice("search space", self.space, SPACES.names()),
            evaluations=limits.integer("the budget", self.evaluations, 1, MAX_DEMO_EVALUATIONS),
            seconds=limits.number("the time limit (s)", self.seconds, 1, MAX_DEMO_SECONDS),
            lr=limits.number("learning rate / PGD step", self.lr, *LR_RANGE, low_open=True),
            popsize=limits.integer("population", self.popsize, *POPSIZE_RANGE),
            seed=limits.seed(self.seed),
        )

    def to_attack(self):
        """The attack config of the checked request (``ValueError`` naming the first bad field)."""
        from attacks.masterprints import OPTIMIZERS  # deferred: numpy
        from attacks.masterprints.config import AttackConfig  # deferred: numpy, scipy

        checked = self.check()
        cls = OPTIMIZERS.get(checked.optimizer)
        optimizer: dict[str, Any] = {"name": checked.optimizer}
        if cls.needs_gradients and checked.optimizer != "pgd":
            # the measured recipe (docs/masterprints.md): two candidates a step, soft minimum, pixel logits
            optimizer.update(lr=float(checked.lr), population=2)
        elif not cls.needs_gradients:
            optimizer.update(popsize=int(checked.popsize))
        elif checked.space == "vae_latent":  # pgd in a latent: no uint8 grid
            optimizer.update(quantize=False, step=float(checked.lr))
        space: dict[str, Any] = {"name": checked.space}
        if checked.space == "pixels" and not cls.needs_gradients:
            space["param_size"] = 16  # black-box search in 768 dims instead of 12,288
        elif checked.space == "pixels":
            space["squash"] = "sigmoid"  # pixel logits: saturated pixels keep their gradient
        return AttackConfig(
            prompts=checked.prompts(),
            optimizer=optimizer,
            space=space,
            objective={"aggregation": "softmin"},
            budget={"evaluations": int(checked.evaluations), "seconds": float(checked.seconds)},
            checkpoint_every=5.0,
        )


class MiningJob:
    """One visitor of the page: its models, its checkpoint folder, its stop flag.

    Args:
        folder: where this job writes (its checkpoint and the mined image).
    """

    _models: LRUCache[tuple[str, str], Any] = LRUCache(MAX_CACHED_MODELS, "masterprints models")

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop_event = threading.Event()
        self.banks: dict[str, Any] = {}

    @classmethod
    def model(cls, kind: str, name: str, runtime):
        from attacks.masterprints.models import load_scorer, load_vae  # deferred: numpy

        def load():
            return load_scorer(name, runtime) if kind == "clip" else load_vae(name, runtime)

        return cls._models.get_or_create((kind, name), load)

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
        from attacks.masterprints import FileCheckpoint, mine  # deferred: numpy
        from attacks.masterprints.assemble import build_setup  # deferred: numpy, scipy
        from attacks.masterprints.config import ModelsConfig  # deferred: numpy, scipy
        from attacks.masterprints.evaluation import RealImageBank, evaluate_fooling  # deferred: numpy, scipy
        from attacks.masterprints.toy_images import ToyWorldImages  # deferred: numpy
        from workbench.runtime import Runtime  # deferred: numpy

        request = request.check()
        attack = request.to_attack()
        left = limits.remaining_seconds()  # None outside a demo request
        soft_end = (
            None if left is None else time.monotonic() + max(left - min(END_MARGIN_SECONDS, left / 10), 0)
        )
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

        def should_stop() -> bool:
            return self.stop_event.is_set() or (soft_end is not None and time.monotonic() > soft_end)

        def work() -> None:
            try:
                result_box["result"] = mine(
                    setup.optimizer,
                    attack.budget,
                    checkpoint=FileCheckpoint(self.checkpoint_path),
                    checkpoint_every=attack.checkpoint_every,
                    callback=on_step,
                    should_stop=should_stop,
                )
            except BaseException as exc:  # surfaced to the page below
                result_box["error"] = exc

        thread = threading.Thread(target=_under_deadline(work, left), daemon=True)
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
        if result.stop_reason == "stopped" and not self.stop_event.is_set():
            verb = f"Paused at the demo's per-request limit of {limits.request_seconds():g} s"
        status = (
            f"{verb}: {result.evaluations} images scored in {result.wall_seconds:.0f} s; the image outranks every real image "
            f"for {outranked} of {len(rows)} prompts. Mine again to resume (raise the budget to go further). "
            + (CLAIM if request.space == "pixels" and request.model == "toy" else "")
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
        from workbench.io import save_image  # deferred: PIL, numpy

        return save_image(self.folder / "master.png", image)


def _under_deadline(work: Callable[[], None], left: float | None) -> Callable[[], None]:
    """``work`` run under the current request's deadline (``left`` seconds from now), in its own thread."""
    if left is None:
        return work
    seconds, end = limits.request_seconds(), time.monotonic() + left

    def run() -> None:
        with limits.deadline(seconds, end):
            work()

    return run


_JOBS: LRUCache[str, MiningJob] = LRUCache(MAX_JOBS, "masterprints jobs")


def job_for(key: str | None) -> tuple[str, MiningJob]:
    """The job of ``key`` (a new one, with a new key, when ``None`` or not a key this demo makes: twelve
    hexadecimal digits, which name the job's folder)."""
    if not (isinstance(key, str) and _KEY.match(key)):
        key = uuid.uuid4().hex[:12]
    return key, _JOBS.get_or_create(key, lambda: MiningJob(demo_output_dir(NAME) / key))


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

    from attacks.masterprints import OPTIMIZERS, SPACES  # deferred: numpy

    @limits.demo_handler
    def run(key, prompts_text, preset, model, optimizer, space, evaluations, seconds, lr, popsize, seed):
        model = limits.choice("CLIP model", model, MODEL_CHOICES)
        request = MiningRequest(
            prompts_text, preset, model, model, optimizer, space, evaluations, seconds, lr, popsize, seed
        ).check()  # refused before a job (and its folder) is made
        key, job = job_for(key)
        for status, image, rows, curve in job.mine(request):
            yield (
                key,
                status,
                image.permute(1, 2, 0).numpy() if image is not None else None,
                rows,
                loss_plot(curve),
            )

    @limits.demo_handler
    def stop(key):
        return job_for(key)[1].stop() if key in _JOBS else "Nothing is running."

    @limits.demo_handler
    def reset(key):
        return job_for(key)[1].reset() if key in _JOBS else "Nothing to reset."

    with gr.Blocks(title="CLIPMasterPrints", analytics_enabled=False) as demo:
        gr.Markdown("# CLIPMasterPrints\n" + __doc__.split("\n\n")[1])
        key = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                preset = gr.Dropdown([CUSTOM, *PRESETS], value=next(iter(PRESETS)), label="Prompts")
                prompts_text = gr.Textbox(
                    lines=6,
                    label="Custom prompts (one per line)",
                    placeholder="a red circle\na blue star",
                    max_length=MAX_PROMPT_LINES * (MAX_PROMPT_LINE_CHARS + 1),
                )
                model = gr.Dropdown(
                    list(MODEL_CHOICES), value="toy", label="CLIP model (dummy: random weights)"
                )
                optimizer = gr.Dropdown(OPTIMIZERS.names(), value="adam", label="Optimiser")
                space = gr.Dropdown(SPACES.names(), value="pixels", label="Search space")
                with gr.Row():
                    evaluations = gr.Number(
                        2000,
                        precision=0,
                        label="Budget (images scored)",
                        minimum=1,
                        maximum=MAX_DEMO_EVALUATIONS,
                    )
                    seconds = gr.Number(300, label="Time limit (s)", minimum=1, maximum=MAX_DEMO_SECONDS)
                with gr.Row():
                    lr = gr.Number(0.05, label="Learning rate / PGD step", minimum=1e-6, maximum=LR_RANGE[1])
                    popsize = gr.Number(
                        24,
                        precision=0,
                        label="Population (black-box)",
                        minimum=POPSIZE_RANGE[0],
                        maximum=POPSIZE_RANGE[1],
                    )
                    seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=limits.SEED_MAX)
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
            api_name="mine",
        )
        halt.click(stop, [key], [status], queue=False, api_name="stop")
        clear.click(reset, [key], [status], queue=False, api_name="reset")
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
