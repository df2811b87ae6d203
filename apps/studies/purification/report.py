"""The report of ``purification-vs-master-prints``: the table over seeds, fooling vs strength with the
zero-shot cost, and the purified master images."""

from __future__ import annotations

from typing import Any

from apps.studies.stats import seed_cell, summary

__all__ = ["write_report"]


def table(rows: list[dict[str, Any]], conditions) -> list[dict[str, Any]]:
    base = summary(rows, "zero_shot_accuracy", {"transform": "none"})
    out = []
    for name, strength, _ in conditions:
        g = {"transform": name, "strength": strength}
        zs = summary(rows, "zero_shot_accuracy", g)
        drops = [b - v for b, v in zip(base["values"], zs["values"])]
        out.append(
            {
                "purifier": name,
                "strength": strength,
                "fooling accuracy %": seed_cell(summary(rows, "fooling_accuracy", g)["values"]),
                "outranks every real image %": seed_cell(summary(rows, "outrank", g)["values"]),
                "zero-shot accuracy %": seed_cell(zs["values"]),
                "zero-shot drop (points)": seed_cell(drops),
            }
        )
    return out


def figure(rows: list[dict[str, Any]], conditions):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in dict.fromkeys(c[0] for c in conditions) if n != "none"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    none_f = summary(rows, "fooling_accuracy", {"transform": "none"})
    none_z = summary(rows, "zero_shot_accuracy", {"transform": "none"})
    for name in names:
        xs = [s for n, s, _ in conditions if n == name]
        f = [summary(rows, "fooling_accuracy", {"transform": name, "strength": s}) for s in xs]
        z = [summary(rows, "zero_shot_accuracy", {"transform": name, "strength": s}) for s in xs]
        line = axes[0].errorbar(
            xs,
            [100 * v["mean"] for v in f],
            yerr=[100 * v["se"] for v in f],
            marker="o",
            capsize=3,
            label=name,
        )
        color = line[0].get_color()
        axes[1].errorbar(
            xs,
            [100 * v["mean"] for v in z],
            yerr=[100 * v["se"] for v in z],
            marker="s",
            ls="--",
            capsize=3,
            color=color,
            label=name,
        )
        axes[2].plot(
            [100 * (none_z["mean"] - v["mean"]) for v in z],
            [100 * v["mean"] for v in f],
            marker="o",
            color=color,
            label=name,
        )
    axes[0].axhline(100 * none_f["mean"], color="k", ls=":", label="no purifier")
    axes[1].axhline(100 * none_z["mean"], color="k", ls=":", label="no purifier")
    axes[2].scatter([0], [100 * none_f["mean"]], color="k", zorder=3, label="no purifier")
    axes[0].set(xlabel="strength", ylabel="master images' fooling accuracy (%)", title="fooling vs strength")
    axes[1].set(xlabel="strength", ylabel="zero-shot accuracy on real images (%)", title="zero-shot cost")
    axes[2].set(xlabel="zero-shot accuracy lost (points)", ylabel="fooling accuracy (%)", title="trade-off")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Purification against master prints (mean +/- SE over seeds)")
    fig.tight_layout()
    return fig


def write_report(ctx, cfg, clip_source, seeds, rows, conditions, items, purified, budget) -> None:
    import matplotlib.pyplot as plt

    metrics: dict[str, Any] = {}
    for name, strength, _ in conditions:
        g = {"transform": name, "strength": strength}
        metrics[f"{name}@{strength:g}"] = {
            key: {k: summary(rows, key, g)[k] for k in ("mean", "se")}
            for key in ("fooling_accuracy", "outrank", "zero_shot_accuracy")
        }
    ctx.log_metrics(metrics)
    r = ctx.report
    base = summary(rows, "fooling_accuracy", {"transform": "none"})
    r.add_text(
        f"CLIP **{clip_source}**; {len(seeds)} seeds ({', '.join(map(str, seeds))}); per seed {cfg.masters} master "
        f"images mined for {budget} steps on {cfg.prompts} colour-shape prompts, {cfg.real_per_prompt} real toy "
        f"images per prompt. Without a purifier the master images' fooling accuracy is "
        f"**{100 * base['mean']:.1f} +/- {100 * base['se']:.1f} %**. Each purifier is applied to the master "
        "images and to the real images alike (a defence in front of the model sees every input).",
        title="Purification vs master prints",
    )
    r.add_table(
        "Fooling accuracy and zero-shot cost per purifier (%, mean +/- SE over seeds, each seed)",
        table(rows, conditions),
    )
    fig = figure(rows, conditions)
    r.add_figure("Fooling vs strength, with the zero-shot cost", fig)
    plt.close(fig)
    first = [(c, t) for (i, c), (t, _) in zip(items, purified) if i == 0]
    r.add_images(
        f"Master image of seed {seeds[0]} after each purifier",
        [t["masters"][0] for _, t in first],
        captions=[f"{conditions[c][0]} {conditions[c][1]:g}" for c, _ in first],
        ncols=8,
    )
    r.add_metrics(metrics)
