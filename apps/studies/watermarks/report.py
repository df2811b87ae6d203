"""The report of ``watermarks-through-generators``: clean detection per generator x watermark, each generator
against stock, the attack table, detection at matched SSIM (all mean +/- SE over seeds, then each seed),
TPR-vs-quality plots per generator and example images."""

from __future__ import annotations

from typing import Any

from apps.studies.stats import over_seeds, seed_cell, summary

from .measures import matched_quality, paired_differences

__all__ = ["clean_table", "disturbance_rows", "matched_rows", "write_report"]

STOCK = "stock"


def cell(
    rows: list[dict[str, Any]], key: str, group: dict[str, Any], scale: float = 100.0, digits: int = 1
) -> str:
    """``mean +/- se (each seed)`` of ``key`` over the matching rows; ``n/a`` where no row has it."""
    s = summary(rows, key, group)
    return "n/a" if s is None else seed_cell(s["values"], scale, digits)


def per_seed(rows: list[dict[str, Any]], key: str, group: dict[str, Any]) -> dict[int, float]:
    return {
        r["seed"]: float(r[key])
        for r in rows
        if all(r.get(k) == v for k, v in group.items()) and r.get(key) is not None
    }


def clean_table(
    rows: list[dict[str, Any]], generators: list[str], watermarks: list[str]
) -> list[dict[str, Any]]:
    """One row per generator x watermark: detection without attack, the watermark's own cost, and the mean
    TPR over every attack condition."""
    out = []
    for w in watermarks:
        for g in generators:
            clean = {"generator": g, "watermark": w, "attack": "none"}
            attacked = [
                r for r in rows if r["generator"] == g and r["watermark"] == w and r["attack"] != "none"
            ]
            out.append(
                {
                    "watermark": w,
                    "generator": g,
                    "TPR %": cell(rows, "tpr", clean),
                    "bit accuracy %": cell(rows, "bit_accuracy", clean),
                    "AUC %": cell(rows, "auc", clean),
                    "TPR over attacks %": cell(attacked, "tpr", {}),
                    "PSNR to clean (dB)": cell(rows, "mark_psnr", clean, scale=1.0),
                    "SSIM to clean": cell(rows, "mark_ssim", clean, scale=1.0, digits=3),
                }
            )
    return out


def disturbance_rows(
    rows: list[dict[str, Any]], generators: list[str], watermarks: list[str]
) -> list[dict[str, Any]]:
    """Each generator minus stock, seed by seed (same scenes, same initial noise, same keys): clean TPR, bit
    accuracy, AUC and the TPR over every attack condition."""
    if STOCK not in generators:
        return []
    out = []
    for w in watermarks:
        for g in generators:
            if g == STOCK:
                continue
            row: dict[str, Any] = {"watermark": w, "generator": g}
            for key, label in (("tpr", "TPR"), ("bit_accuracy", "bit accuracy"), ("auc", "AUC")):
                mine = per_seed(rows, key, {"generator": g, "watermark": w, "attack": "none"})
                stock = per_seed(rows, key, {"generator": STOCK, "watermark": w, "attack": "none"})
                row[f"{label} - stock (points)"] = (
                    seed_cell(paired_differences(mine, stock)) if mine and stock else "n/a"
                )
            mine, stock = _over_attacks(rows, g, w), _over_attacks(rows, STOCK, w)
            row["TPR over attacks - stock (points)"] = (
                seed_cell(paired_differences(mine, stock)) if mine and stock else "n/a"
            )
            out.append(row)
    return out


def _over_attacks(rows: list[dict[str, Any]], generator: str, watermark: str) -> dict[int, float]:
    by_seed: dict[int, list[float]] = {}
    for r in rows:
        if r["generator"] == generator and r["watermark"] == watermark and r["attack"] != "none":
            by_seed.setdefault(r["seed"], []).append(float(r["tpr"]))
    return {s: sum(v) / len(v) for s, v in by_seed.items()}


def attack_table(rows: list[dict[str, Any]], generators: list[str], watermark: str) -> list[dict[str, Any]]:
    """One row per generator x attack x strength (the un-attacked row first) of one watermark."""
    conditions = list(
        dict.fromkeys((r["attack"], r["strength"]) for r in rows if r["watermark"] == watermark)
    )
    out = []
    for g in generators:
        for attack, strength in conditions:
            group = {"generator": g, "watermark": watermark, "attack": attack, "strength": strength}
            out.append(
                {
                    "generator": g,
                    "attack": attack,
                    "strength": strength,
                    "TPR %": cell(rows, "tpr", group),
                    "bit accuracy %": cell(rows, "bit_accuracy", group),
                    "PSNR (dB)": "" if attack == "none" else cell(rows, "psnr", group, scale=1.0),
                    "SSIM": cell(rows, "ssim", group, scale=1.0, digits=3),
                }
            )
    return out


def matched_rows(rows: list[dict[str, Any]], levels: list[float]) -> list[dict[str, Any]]:
    """Per seed x generator x watermark x attack: TPR and bit accuracy at each SSIM level."""
    out = []
    triples = dict.fromkeys((r["seed"], r["generator"], r["watermark"]) for r in rows)
    for s, g, w in triples:
        mine = [r for r in rows if (r["seed"], r["generator"], r["watermark"]) == (s, g, w)]
        for m in matched_quality(mine, levels):
            out.append({"seed": s, "generator": g, "watermark": w, **m})
    return out


def matched_table(
    matched: list[dict[str, Any]], generators: list[str], watermarks: list[str], attacks: list[str], levels
) -> list[dict[str, Any]]:
    out = []
    for w in watermarks:
        for attack in attacks:
            for g in generators:
                group = {"generator": g, "watermark": w, "attack": attack}
                row: dict[str, Any] = {"watermark": w, "attack": attack, "generator": g}
                for level in levels:
                    row[f"TPR % at SSIM {level:g}"] = cell(matched, f"tpr@ssim{level:g}", group)
                    row[f"bit acc. % at SSIM {level:g}"] = cell(matched, f"acc@ssim{level:g}", group)
                out.append(row)
    return out


def quality_figure(rows: list[dict[str, Any]], generators: list[str], watermark: str, attacks: list[str]):
    """TPR against SSIM (top) and PSNR (bottom) to the watermarked image, one panel per attack, one line per
    generator over the attack's strengths (mean +/- SE over seeds; SSIM 1 is no attack)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(attacks), figsize=(4 * len(attacks), 7), squeeze=False)
    for c, attack in enumerate(attacks):
        strengths = sorted(
            {r["strength"] for r in rows if r["attack"] == attack and r["watermark"] == watermark}
        )
        for g in generators:
            base = {"generator": g, "watermark": watermark}
            points = [({**base, "attack": "none"}, True)] + [
                ({**base, "attack": attack, "strength": s}, False) for s in strengths
            ]
            tpr = [summary(rows, "tpr", p) for p, _ in points]
            for r, key in enumerate(("ssim", "psnr")):
                xs, ys, es = [], [], []
                for (p, clean), t in zip(points, tpr):
                    q = summary(rows, key, p)
                    if q is None or t is None or (clean and key == "psnr"):
                        continue
                    xs.append(q["mean"])
                    ys.append(100 * t["mean"])
                    es.append(100 * t["se"])
                axes[r][c].errorbar(
                    xs, ys, yerr=es, marker="o", capsize=3, label=g, lw=2.5 if g == STOCK else 1.2
                )
        axes[0][c].set(title=attack, xlabel="SSIM to the watermarked image", ylabel="TPR (%)")
        axes[1][c].set(xlabel="PSNR to the watermarked image (dB)", ylabel="TPR (%)")
        for r in range(2):
            axes[r][c].invert_xaxis()
            axes[r][c].set_ylim(-5, 105)
            axes[r][c].grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{watermark}: detection vs image quality per generator (stronger attack to the right)")
    fig.tight_layout()
    return fig


def metrics_of(rows: list[dict[str, Any]], generators: list[str], watermarks: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in rows:
        label = "none" if r["attack"] == "none" else f"{r['attack']}@{r['strength']:g}"
        group = {
            "generator": r["generator"],
            "watermark": r["watermark"],
            "attack": r["attack"],
            "strength": r["strength"],
        }
        for key in ("tpr", "bit_accuracy"):
            s = summary(rows, key, group)
            if s is not None:
                out[f"{r['generator']}.{r['watermark']}.{label}.{key}"] = {"mean": s["mean"], "se": s["se"]}
    if STOCK in generators:
        for w in watermarks:
            stock = per_seed(rows, "tpr", {"generator": STOCK, "watermark": w, "attack": "none"})
            for g in generators:
                if g != STOCK:
                    mine = per_seed(rows, "tpr", {"generator": g, "watermark": w, "attack": "none"})
                    d = over_seeds(paired_differences(mine, stock))
                    out[f"vs_stock.{g}.{w}.tpr"] = {"mean": d["mean"], "se": d["se"]}
    return out


def write_report(ctx, cfg, rows, seeds, info, images, attacked, seconds) -> None:
    import matplotlib.pyplot as plt

    generators, watermarks = list(cfg.generators), list(cfg.watermarks)
    attacks = list(dict.fromkeys(t.attack for t in cfg.attacks))
    ctx.log_metrics(metrics_of(rows, generators, watermarks))
    r = ctx.report
    keyed = [w for w in watermarks if info["watermarks"][w]["kind"] == "generation"]
    n_null = rows[0]["n_null"]
    r.add_text(
        f"SD **{info['sd']}** at {info['size']} px (latents {info['latent_shape']}), DDIM "
        f"{cfg.generation.num_inference_steps} steps, guidance {cfg.generation.guidance_scale}; "
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), {cfg.scenes.prompts} scenes per seed "
        f"(an entity and an object, e.g. *{info['scenes'][seeds[0]][0].prompt}*), the same initial noise for "
        f"every generator. Knowledge base: {info['knowledge_base']}. Images are stored 8-bit at "
        f"{cfg.image_size} px; post-hoc watermarks are embedded there, generation-time ones "
        f"({', '.join(keyed) or 'none'}) are written into the initial latents each generator starts from and "
        "detected by inversion. Threshold at "
        f"{100 * cfg.fpr:g} % FPR on the {n_null} clean images of every generator of the seed (with fewer than "
        "1 / FPR clean images it is their maximum). Values: mean +/- SE over seeds (each seed).",
        title="Watermarks through every generator",
    )
    r.add_table("Clean detection per generator x watermark", clean_table(rows, generators, watermarks))
    r.add_table(
        "Each generator against stock (same scenes, noise and keys; difference seed by seed, points)",
        disturbance_rows(rows, generators, watermarks),
        caption="A generation-time watermark assumes plain sampling from its keyed latent; the generators' own "
        "guidance (region fusion, box guidance, MRSA, neighbour blending) moves the sampling away from it. "
        "The post-hoc watermarks are the control.",
    )
    if attacks:  # a clean-only study (`attacks: []`) has no attack tables or curves
        for w in watermarks:
            r.add_table(
                f"{w} under attack",
                attack_table(rows, generators, w),
                caption="SSIM / PSNR to the watermarked image.",
            )
        matched = matched_rows(rows, list(cfg.matched_ssim))
        ctx.save_json("matched_rows", matched)
        r.add_table(
            "Detection at matched SSIM",
            matched_table(matched, generators, watermarks, attacks, cfg.matched_ssim),
            caption="TPR and bit accuracy interpolated along each attack's strength curve (from the un-attacked "
            "images, SSIM 1) at each SSIM level, per seed; seeds whose curve never reaches the level are left out.",
        )
        for w in watermarks:
            fig = quality_figure(rows, generators, w, attacks)
            r.add_figure(f"{w}: TPR vs quality per generator", fig)
            plt.close(fig)
    s0 = seeds[0]
    pics, captions = [], []
    for g in generators:
        for variant in ["clean", *keyed]:
            pics.append(images[(s0, g)][variant][0].float() / 255)
            captions.append(f"{g} {variant}")
    r.add_images(
        f"Seed {s0}, first scene: each generator, clean and keyed",
        pics,
        captions=captions,
        ncols=1 + len(keyed),
    )
    first = (s0, generators[0], watermarks[0])
    pics, captions = [], []
    for a, t in enumerate(cfg.attacks):
        ex = attacked[(*first, a)].get("examples")
        if ex is not None:
            for k, strength in enumerate(t.strengths):
                pics.append(ex[k].float() / 255)
                captions.append(f"{t.attack} {strength:g}")
    if pics:
        r.add_images(f"Seed {s0}, {generators[0]} + {watermarks[0]}: each attack", pics, captions=captions)
    r.add_table(
        "Time",
        [
            {"stage": k, "wall s": round(v["seconds"], 1), "process CPU s": round(v["cpu_seconds"], 1)}
            for k, v in seconds.items()
        ],
        caption="Summed over the work items, each as timed when it was computed (one process; a resumed run "
        f"reloads them); load average {info.get('load', 'n/a')}.",
    )
