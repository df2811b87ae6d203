"""The report of ``master-prints-vs-retrieval``: tables over seeds (mean +/- SE, each seed), the hijack
plot, the master images and the downstream images."""

from __future__ import annotations

from typing import Any

from apps.studies.stats import seed_cell, summary

__all__ = ["write_report"]

PCT = ("hijack_top1", "hijack_topk", "recall_at_1", "recall_at_k", "clean_recall_at_k", "base_kept")


def _cell(rows, key, group) -> str:
    s = summary(rows, key, group)
    return "" if s is None else seed_cell(s["values"])


def hijack_table(rows, budgets, counts, queries: str, top_k: int) -> list[dict[str, Any]]:
    out = [
        {
            "budget (steps)": "clean base",
            "inserted": 0,
            "hijack top-1 %": _cell(rows, "hijack_top1", {"queries": queries, "inserted": 0}),
            f"hijack top-{top_k} %": _cell(rows, "hijack_topk", {"queries": queries, "inserted": 0}),
            f"recall@{top_k} %": _cell(rows, "recall_at_k", {"queries": queries, "inserted": 0}),
        }
    ]
    for b in budgets:
        for k in counts:
            g = {"queries": queries, "budget": b, "inserted": k}
            out.append(
                {
                    "budget (steps)": b,
                    "inserted": k,
                    "hijack top-1 %": _cell(rows, "hijack_top1", g),
                    f"hijack top-{top_k} %": _cell(rows, "hijack_topk", g),
                    f"recall@{top_k} %": _cell(rows, "recall_at_k", g),
                }
            )
    return out


def defence_table(rows, counts, top_k: int) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(r["defence"] for r in rows))
    out = []
    for k in counts:
        for name in names:
            g = {"defence": name, "inserted": k}
            out.append(
                {
                    "inserted": k,
                    "defence": name,
                    "hijack top-1 %": _cell(rows, "hijack_top1", g),
                    f"hijack top-{top_k} %": _cell(rows, "hijack_topk", g),
                    f"poisoned recall@{top_k} %": _cell(rows, "recall_at_k", g),
                    f"clean recall@{top_k} %": _cell(rows, "clean_recall_at_k", g),
                    "clean entries kept %": _cell(rows, "base_kept", g),
                    "master images flagged %": _cell(rows, "masters_flagged", g),
                }
            )
    return out


def hijack_figure(rows, budgets, counts, top_k: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, label in zip(axes, ("hijack_top1", "hijack_topk"), ("top-1", f"top-{top_k}")):
        for b in budgets:
            stats = [summary(rows, key, {"queries": "heldout", "budget": b, "inserted": k}) for k in counts]
            ax.errorbar(
                counts,
                [100 * s["mean"] for s in stats],
                yerr=[100 * s["se"] for s in stats],
                marker="o",
                capsize=3,
                label=f"{b} steps" if b else "0 steps (noise)",
            )
        ax.set_xlabel("master images inserted (k)")
        ax.set_ylabel(f"held-out queries hijacked at {label} (%)")
        ax.set_xticks(counts)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="mining budget")
    fig.suptitle("Hijack rate vs k (mean +/- SE over seeds)")
    fig.tight_layout()
    return fig


def rag_table(rows) -> list[dict[str, Any]]:
    out = []
    for kind in ("entity", "class"):
        for base in ("clean", "poisoned"):
            g = {"base": base, "kind": kind}
            if summary(rows, "master_retrieved", g) is None:
                continue
            out.append(
                {
                    "prompts": kind,
                    "base": base,
                    "master among neighbours %": _cell(rows, "master_retrieved", g),
                    "fidelity % (judge)": _cell(rows, "fidelity", g),
                }
            )
    return out


def write_report(ctx, cfg, kb, clip_source, seeds, budgets, rows, defence_rows, rag_rows, results) -> None:
    import matplotlib.pyplot as plt

    r = ctx.report
    counts = sorted(set(cfg.masters))
    top_k = cfg.top_k
    b = budgets[-1]
    headline = {
        "hijack_top1": summary(
            rows, "hijack_top1", {"queries": "heldout", "budget": b, "inserted": counts[0]}
        ),
        "hijack_top1_max_k": summary(
            rows, "hijack_top1", {"queries": "heldout", "budget": b, "inserted": counts[-1]}
        ),
        "clean_recall_at_k": summary(rows, "recall_at_k", {"queries": "heldout", "inserted": 0}),
    }
    metrics = {name: s for name, s in headline.items() if s is not None}
    for name in dict.fromkeys(d["defence"] for d in defence_rows):
        for key in ("hijack_top1", "hijack_topk", "clean_recall_at_k"):
            s = summary(defence_rows, key, {"defence": name, "inserted": counts[-1]})
            if s is not None:
                metrics.setdefault("defences", {}).setdefault(name, {})[key] = s
    if rag_rows:
        for kind in ("entity", "class"):
            for base in ("clean", "poisoned"):
                for key in ("fidelity", "master_retrieved"):
                    s = summary(rag_rows, key, {"base": base, "kind": kind})
                    if s is not None:
                        metrics.setdefault("rag", {}).setdefault(kind, {}).setdefault(base, {})[key] = s
    ctx.log_metrics(_numbers(metrics))
    h = headline["hijack_top1"]
    r.add_text(
        f"CLIP **{clip_source}**; clean knowledge base of **{len(kb)} entries** (toy entity catalogue and toy "
        f"scenes); {len(seeds)} seeds ({', '.join(map(str, seeds))}). Master images: Adam on pixel logits, "
        f"{cfg.mining.aggregation} over the mined half of the queries, budgets {budgets} steps. "
        + (
            f"At {b} steps **one** master image is the top-1 neighbour of **{100 * h['mean']:.1f} +/- "
            f"{100 * h['se']:.1f} %** of the held-out queries (per seed: "
            f"{', '.join(f'{100 * v:.1f}' for v in h['values'])})."
            if h
            else ""
        ),
        title="Master prints vs retrieval",
    )
    r.add_table(
        "Hijack rate, held-out queries (%, mean +/- SE over seeds, each seed)",
        hijack_table(rows, budgets, counts, "heldout", top_k),
        caption="held-out: entities and colour-shape classes the master images were not mined on; 0 steps: "
        "the starting noise, inserted unoptimised (the control)",
    )
    r.add_table(
        "Hijack rate, the queries the master images were mined on (%)",
        hijack_table(rows, budgets, counts, "mined", top_k),
    )
    r.add_table(
        f"Hijack rate at {b} steps by kind of held-out query (%)",
        [
            {"queries": q, **{k: v for k, v in row.items() if k != "budget (steps)"}}
            for q in ("heldout entities", "heldout classes")
            for row in hijack_table(rows, [b], counts, q, top_k)
        ],
        caption="entities: a named emblem, alone or at a position; classes: a colour and a shape",
    )
    fig = hijack_figure(rows, budgets, counts, top_k)
    r.add_figure("Hijack rate vs number inserted", fig)
    plt.close(fig)
    if defence_rows:
        r.add_table(
            f"Defences at {b} steps, held-out queries (%)",
            defence_table(defence_rows, counts, top_k),
            caption="clean recall: the same defence on the base without master images (its cost); the "
            "detector's threshold is set at "
            f"{cfg.defences.fpr:g} FPR on real toy scenes; query time: the flagged images among each query's "
            f"top {cfg.defences.window} results are dropped",
        )
    flags = [
        {
            "budget (steps)": bb,
            "master images flagged %": _cell(rows, "masters_flagged", {"queries": "detector", "budget": bb}),
            "clean entries flagged %": _cell(rows, "clean_flagged", {"queries": "detector", "budget": bb}),
        }
        for bb in budgets
        if summary(rows, "masters_flagged", {"queries": "detector", "budget": bb}) is not None
    ]
    if flags:
        r.add_table(
            "The detector on the inserted images by mining budget (%)",
            flags,
            caption="flagged: probability above the threshold set on real toy scenes; clean entries: the whole base",
        )
    if rag_rows:
        r.add_table(
            "Downstream: retrieval-augmented generation, clean vs poisoned base (%)",
            rag_table(rag_rows),
            caption=f"per seed {cfg.rag.entities} held-out entities (scene prompts) and {cfg.rag.classes} held-out "
            f"classes (the class query), k = {cfg.rag.k} neighbours by text-to-image retrieval, reference "
            "attention, the same noise for both bases; fidelity: the judge finds the entity / an object of the class",
        )
    first = results[0][0]
    r.add_images(
        f"Master images of seed {seeds[0]} by budget (steps)",
        [first[f"masters_{bb}"][j] for bb in budgets for j in range(min(2, first[f"masters_{bb}"].shape[0]))],
        captions=[f"{bb}" for bb in budgets for j in range(min(2, first[f"masters_{bb}"].shape[0]))],
        ncols=min(8, 2 * len(budgets)),
    )
    r.add_metrics(_numbers(metrics))


def _numbers(tree: dict[str, Any]) -> dict[str, Any]:
    """The metrics tree with each seed summary reduced to its mean and standard error (loggable numbers)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and "values" in value:
            out[key] = {"mean": value["mean"], "se": value["se"]}
        elif isinstance(value, dict):
            out[key] = _numbers(value)
    return out
