"""The tour's ``watermarks`` step: embed post-hoc watermarks in the tour's images, attack, decode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attacks.image import build_attack
from attacks.watermarks import build_watermark
from workbench.experiments_builtin.tour import register_tour_step

TOUR_WATERMARKS = ("dwtDctSvd", "rivaGan")
TOUR_ATTACKS = (("none", 0.0), ("jpeg", 0.5556), ("blur", 0.5), ("noise", 0.3))


@register_tour_step("watermarks")
def tour_watermarks(ctx, result) -> None:
    """Bit accuracy of two post-hoc watermarks on the tour's images, without and under three attacks."""
    # invisible-watermark works at >= 256 px: carry the (small) tour images at 256 x 256
    images = F.interpolate(result.images[:4].float(), size=(256, 256), mode="bicubic").clamp(
        0, 1
    )  # (B, 3, 256, 256)
    rows = []
    shown: list[torch.Tensor] = []
    for wm_name in TOUR_WATERMARKS:
        wm = build_watermark(wm_name)
        marked = wm.embed(images)
        shown.append(marked[0])
        for attack_name, strength in TOUR_ATTACKS:
            if attack_name == "none":
                attacked = marked
            else:
                attack = build_attack(attack_name, strength=strength)
                attacked = attack(marked, ctx.runtime.generator("tour-watermarks", wm_name, attack_name))
            acc = wm.bit_accuracy(attacked).float().mean().item()
            rows.append(
                {"watermark": wm_name, "attack": attack_name, "strength": strength, "bit_accuracy": acc}
            )
    ctx.log_metrics(
        {f"watermarks.{r['watermark']}.{r['attack']}.bit_accuracy": r["bit_accuracy"] for r in rows}
    )
    ctx.report.add_table("Watermarks on the tour's images (bit accuracy)", rows)
    ctx.report.add_images("Watermarked (first image)", shown, captions=list(TOUR_WATERMARKS), ncols=4)
