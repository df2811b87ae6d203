"""PAID's background stage: the product stays exactly as given, the background is generated around it.

After "PAID: A Framework of Product-Centric Advertising Image Design" (prompt -> layout -> background
conditioned on the layout and the foreground -> graphics). The product is placed in its layout box on
a neutral canvas and diffusers' :class:`~diffusers.StableDiffusionInpaintPipeline` repaints everything
outside the product's mask; with an ordinary 4-channel text-to-image UNet that pipeline re-imposes the
product's noised latents at every step (Blended Latent Diffusion), so no inpainting model is needed.
The product's own pixels are pasted back at the end (a product image must not be altered).

Example:
    >>> import torch
    >>> from workbench.dummy import dummy_sd_components
    >>> product = torch.ones(3, 16, 16)  # a white square
    >>> image = generate_background(
    ...     dummy_sd_components(), "a red circle", product, box=(0.25, 0.25, 0.75, 0.75), num_inference_steps=2
    ... )
    >>> tuple(image.shape), bool((image[:, 12:20, 12:20] == 1).all())
    ((3, 32, 32), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from workbench.sampling import WORKBENCH_SAMPLING

from .layout import LayoutError

__all__ = ["compose_product", "generate_background", "product_tensors"]


def product_tensors(
    product: Image.Image | torch.Tensor, mask: Image.Image | torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The product's RGB `(3, h, w)` in [0, 1] and its mask `(h, w)` in {0, 1}.

    The mask comes from ``mask`` if given, else from the image's alpha channel (an RGBA / LA / palette
    image with transparency, or a `(4, h, w)` tensor), else it is the whole image.

    Raises:
        LayoutError: a tensor of the wrong shape or range, a mask of another size, or an empty mask.
    """
    if isinstance(product, Image.Image):
        rgba = np.asarray(product.convert("RGBA"), dtype=np.float32) / 255.0  # (h, w, 4)
        rgb = torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)
        has_alpha = product.mode in ("RGBA", "LA", "PA") or "transparency" in product.info
        alpha = torch.from_numpy(rgba[..., 3].copy()) if has_alpha else None
    elif isinstance(product, torch.Tensor):
        t = product.detach().float().cpu()
        if t.ndim != 3 or t.shape[0] not in (3, 4):
            raise LayoutError(
                f"a product tensor must have shape (3, h, w) or (4, h, w) with alpha, got {tuple(t.shape)}"
            )
        if t.isnan().any() or t.min() < 0 or t.max() > 1:
            raise LayoutError("a product tensor must hold values in [0, 1] (no NaN); scale it first")
        rgb, alpha = t[:3], (t[3] if t.shape[0] == 4 else None)
    else:
        raise LayoutError(f"the product must be a PIL image or a tensor, got {type(product).__name__}")
    if mask is not None:
        if not isinstance(mask, (Image.Image, torch.Tensor)):
            raise LayoutError(f"the product mask must be a PIL image or a tensor, got {type(mask).__name__}")
        m = (
            torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)
            if isinstance(mask, Image.Image)
            else mask.detach().float().cpu().squeeze()
        )
        if m.shape != rgb.shape[1:]:
            raise LayoutError(f"the product mask is {tuple(m.shape)}, the product {tuple(rgb.shape[1:])}")
    else:
        m = alpha if alpha is not None else torch.ones(rgb.shape[1:])
    m = (m > 0.5).float()
    if not m.any():
        raise LayoutError("the product mask is empty (fully transparent product): nothing to place")
    return rgb, m


def compose_product(
    rgb: torch.Tensor,
    mask: torch.Tensor,
    box: Sequence[float],
    size: tuple[int, int],
    fill: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The product scaled into ``box`` (normalised xyxy; aspect ratio kept, centred) on a ``fill`` grey
    canvas of ``size`` ``(H, W)``: the canvas `(3, H, W)` and the product's mask on it `(H, W)`.

    Raises:
        LayoutError: a box outside [0, 1] or of zero area.
    """
    if len(box) != 4:
        raise LayoutError(f"a box is (x0, y0, x1, y1), got {tuple(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise LayoutError(
            f"the product box {tuple(box)} must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 (normalised xyxy)"
        )
    H, W = size
    bw, bh = (x1 - x0) * W, (y1 - y0) * H
    h, w = rgb.shape[1:]
    scale = min(bw / w, bh / h)
    ph, pw = max(1, round(h * scale)), max(1, round(w * scale))
    top = round(y0 * H + (bh - ph) / 2)
    left = round(x0 * W + (bw - pw) / 2)
    top, left = min(max(top, 0), H - ph), min(max(left, 0), W - pw)
    rgb_s = F.interpolate(rgb[None], size=(ph, pw), mode="bilinear", antialias=True, align_corners=False)[0]
    mask_s = (
        F.interpolate(mask[None, None], size=(ph, pw), mode="bilinear", align_corners=False)[0, 0] > 0.5
    ).float()
    canvas = torch.full((3, H, W), fill)
    placed = torch.zeros(H, W)
    placed[top : top + ph, left : left + pw] = mask_s
    region = canvas[:, top : top + ph, left : left + pw]
    canvas[:, top : top + ph, left : left + pw] = mask_s * rgb_s.clamp(0, 1) + (1 - mask_s) * region
    return canvas, placed


def generate_background(
    pipe: Any,
    prompt: str,
    product: Image.Image | torch.Tensor,
    box: Sequence[float],
    generator: torch.Generator | None = None,
    *,
    mask: Image.Image | torch.Tensor | None = None,
    num_inference_steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance_scale: float = WORKBENCH_SAMPLING.guidance_scale,
    paste: bool = True,
    **kwargs: Any,
) -> torch.Tensor:
    """The product in ``box`` with a background generated from ``prompt`` around it.

    Args:
        pipe: a Stable Diffusion pipeline or its components (an inpainting pipeline is built from them).
        prompt: what the background shows.
        product: the product image; its alpha channel (or ``mask``) says which pixels are the product.
        box: where the product goes (normalised xyxy; it is scaled to fit, aspect ratio kept).
        paste: put the product's exact pixels back after decoding (default; the VAE alters them slightly).
        kwargs: more arguments of :class:`~diffusers.StableDiffusionInpaintPipeline`.

    Returns:
        `torch.Tensor` of shape `(3, H, W)` in [0, 1], ``H = W`` the pipeline's default size.
    """
    from diffusers import StableDiffusionInpaintPipeline

    if not isinstance(prompt, str) or not prompt.strip():
        raise LayoutError("the background prompt is empty: say what the background shows")
    components = dict(pipe if isinstance(pipe, dict) else pipe.components)
    components.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    inpaint = StableDiffusionInpaintPipeline(**components)
    inpaint.set_progress_bar_config(disable=True)
    side = inpaint.unet.config.sample_size * inpaint.vae_scale_factor
    rgb, m = product_tensors(product, mask)
    canvas, placed = compose_product(rgb, m, box, (side, side))
    out = inpaint(
        prompt,
        image=canvas[None],  # (1, 3, H, W) in [0, 1]
        mask_image=(1 - placed)[None, None],  # 1 = generate, 0 = keep
        height=side,
        width=side,
        strength=1.0,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        generator=generator,
        output_type="pt",
        **kwargs,
    )
    image = out.images[0].float().cpu()  # (3, H, W)
    return placed * canvas + (1 - placed) * image if paste else image
