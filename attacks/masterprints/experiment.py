"""``masterprints``: mine a fooling master image, evaluate it and its mitigations, report.

Example:
    workbench run examples/masterprints_adam_latent.yaml --set attack.budget.evaluations=3000
"""

from __future__ import annotations

import logging
from typing import Literal

import torch

from workbench.config import ExperimentConfig
from workbench.experiments import register_experiment
from workbench.runs import RunContext

from .assemble import build_setup
from .assess import assess_master
from .config import AttackConfig, EvaluationConfig, ModelsConfig
from .mining import MiningResult, Progress
from .models import load_scorer
from .optimizers import build_optimizer
from .restarts import mine_restarts, restart_key

logger = logging.getLogger(__name__)

CHECKPOINT_KEY = "mining/state"


class MasterPrintsConfig(ExperimentConfig):
    """Config of the ``masterprints`` experiment (see :class:`AttackConfig`, :class:`ModelsConfig`,
    :class:`EvaluationConfig`)."""

    experiment: Literal["masterprints"] = "masterprints"
    models: ModelsConfig = ModelsConfig()
    attack: AttackConfig
    evaluation: EvaluationConfig = EvaluationConfig()


class RunCheckpoint:
    """The mining loop's checkpoint store on top of the run folder's checkpoint API (one key,
    replaced atomically; written by the main process only)."""

    def __init__(self, ctx: RunContext, key: str = CHECKPOINT_KEY, write: bool | None = None) -> None:
        self.ckpt = ctx.checkpoint
        self.key = key
        self.write = ctx.is_main if write is None else write

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
        if not self.ckpt.done(self.key):
            return None
        tensors, meta = self.ckpt.load(self.key)
        return tensors, {k: str(v) for k, v in meta.items()}

    def save(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        if self.write:
            self.ckpt.save(self.key, tensors, metadata)


def loss_figure(result: MiningResult):
    """A matplotlib figure of the loss curve (best so far and per step) against evaluations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result.loss_curve()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(curve["evaluations"], curve["step_loss"], lw=0.8, alpha=0.5, label="best of step")
    ax.plot(curve["evaluations"], curve["best_loss"], lw=1.6, label="best so far")
    ax.set_xlabel("images scored")
    ax.set_ylabel("loss (-min score over prompts)")
    ax.legend()
    fig.tight_layout()
    return fig


@register_experiment("masterprints", config=MasterPrintsConfig)
def run(ctx: RunContext, cfg: MasterPrintsConfig) -> None:
    """Mine a CLIPMasterPrint, measure its fooling accuracy, transfer and mitigations."""
    # 1. models, prompts, space and optimiser (bad input fails here)
    setup = build_setup(cfg.attack, cfg.models, ctx.runtime)
    transfer = None
    if cfg.models.transfer_clip is not None:  # loaded now, so a missing model fails before mining
        transfer = load_scorer(cfg.models.transfer_clip, ctx.runtime, kind=cfg.models.scorer, seed=1)
    ctx.save_json("prompts", setup.prompts)

    # 2. mine (resumes from the run's checkpoint after a kill)
    log_every = 25  # steps between metric rows

    def on_step(p: Progress) -> None:
        if p.step % log_every == 0 or p.step == 1:
            ctx.log_metrics(
                {
                    "mining": {
                        "loss": p.step_loss,
                        "best_loss": p.best_loss,
                        "evaluations": p.evaluations,
                        "seconds": p.seconds,
                    }
                },
                step=p.step,
            )

    attack = cfg.attack

    def make_optimizer(r: int):
        if r == 0:
            return setup.optimizer
        opt_cfg = attack.optimizer.model_copy(update={"key": restart_key(attack.optimizer.key, r)})
        return build_optimizer(opt_cfg, setup.space, setup.objective, ctx.runtime)

    # each restart runs on one process only, which writes its checkpoint
    restarts = mine_restarts(
        make_optimizer,
        attack.restarts,
        attack.budget,
        ctx.runtime,
        checkpoint_for=lambda r: RunCheckpoint(
            ctx, CHECKPOINT_KEY if r == 0 else f"{CHECKPOINT_KEY}-{r}", True
        ),
        checkpoint_every=attack.checkpoint_every,
        callback=lambda r, p: on_step(p) if r == 0 else None,
    )
    result = restarts.best

    # 3. outputs: the image, its parameters, the loss curve
    master = result.image  # (1, 3, H, W)
    ctx.save_image("master", master[0])
    ctx.save_tensors(
        "master", {"image": master.cpu().contiguous(), "params": result.params.cpu().contiguous()}
    )
    ctx.save_json("loss_curve", result.loss_curve())

    # 4. evaluation and mitigations
    assessment = assess_master(
        master, setup.prompts, setup.scorer, setup.space, cfg.evaluation, ctx.runtime, transfer
    )
    metrics = {
        **assessment.metrics,
        "evaluations": restarts.evaluations,
        "wall_seconds": result.wall_seconds,
        "restarts": attack.restarts,
        "best_restart": restarts.best_restart,
        "restart_best_loss": {str(r): loss for r, loss in enumerate(restarts.losses)},
        "steps": result.steps,
        "best_loss": result.best_loss,
        "stop_reason": result.stop_reason,
        "prompts": len(setup.prompts),
        "space_dim": setup.space.dim,
    }
    ctx.log_metrics(metrics)
    ctx.save_json("per_prompt", assessment.targets.table())

    # 5. report
    r = ctx.report
    r.add_text(
        f"Master image mined on **{len(setup.prompts)} prompts** with `{cfg.attack.optimizer.name}` in `{setup.space.name}` "
        f"({setup.space.dim} dims, {'black-box' if cfg.attack.is_black_box else 'white-box'}), "
        f"{result.evaluations} images scored in {result.wall_seconds:.1f} s. Fooling accuracy "
        f"**{assessment.metrics['fooling_accuracy']:.3f}**; it outranks every real image for "
        f"**{assessment.metrics['outrank_fraction']:.0%}** of the prompts.",
        title="Summary",
    )
    m = assessment.metrics
    lines = [
        f"- limit of any image: the best free unit image embedding beats the best real image on "
        f"{m['embedding_bound_outrank_fraction']:.0%} of the prompts (worst margin {m['embedding_bound_margin']:+.3f}); "
        "without a modality gap no image can do better"
    ]
    if "heldout_fooling_accuracy" in m:
        lines.append(
            f"- held-out related prompts ({m['heldout_prompts']}): fooling accuracy {m['heldout_fooling_accuracy']:.3f}"
        )
    if "transfer_fooling_accuracy" in m:
        lines.append(
            f"- transfer to `{cfg.models.transfer_clip}`: fooling accuracy {m['transfer_fooling_accuracy']:.3f}"
        )
    if "shifted_fooling_accuracy" in m:
        lines.append(
            f"- modality-gap shift {cfg.evaluation.shift:g}: fooling accuracy {m['fooling_accuracy']:.3f} -> "
            f"{m['shifted_fooling_accuracy']:.3f}; zero-shot accuracy {m['zero_shot_accuracy']:.3f} -> "
            f"{m['shifted_zero_shot_accuracy']:.3f}"
        )
    if "detector_tpr_at_1pct_fpr" in m:
        lines.append(
            f"- detector: TPR {m['detector_tpr_at_1pct_fpr']:.3f} on held-out master images at 1% FPR on real scenes"
        )
    r.add_text("\n".join(lines), title="Limits, generalisation, transfer and mitigations")
    r.add_images("Master image", [master[0]], captions=[f"loss {result.best_loss:.4f}"], ncols=2)
    r.add_table("Per prompt: master image vs best real image", assessment.targets.table())
    fig = loss_figure(result)
    r.add_figure("Loss curve", fig)
    import matplotlib.pyplot as plt

    plt.close(fig)
    for name, rep in (
        ("held-out prompts", assessment.heldout),
        ("transfer model", assessment.transfer),
        ("after the modality-gap shift", assessment.shifted),
    ):
        if rep is not None:
            r.add_table(f"Per prompt, {name}", rep.table())
    if assessment.examples:
        grid = [im for images in assessment.examples.values() for im in images]
        captions = [name for name, images in assessment.examples.items() for _ in range(images.shape[0])]
        r.add_images(
            "Real images of the first prompts' classes (and the detector's held-out master images)",
            grid,
            captions=captions,
            ncols=8,
        )
    r.add_metrics(metrics)
