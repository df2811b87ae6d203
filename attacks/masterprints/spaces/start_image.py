"""Loading and validating the start image of a perturbation search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def load_start_image(source, image_size: int) -> torch.Tensor:
    """A start image as a `(3, image_size, image_size)` float32 tensor in [0, 1].

    Args:
        source: a file path, a ``PIL.Image`` in mode ``"RGB"``, a `(H, W, 3)` uint8 array, or a float
            tensor of shape `(3, H, W)` / `(1, 3, H, W)` in [0, 1].
        image_size: the side the search works at. Images of another size are refused rather than
            silently resized, because the L-inf budget is defined on these exact pixels.

    Raises:
        ValueError: the image is not RGB, not square at ``image_size``, or out of range.
        FileNotFoundError: ``source`` is a path that does not exist.
    """
    from PIL import Image

    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"start image {str(path)!r} does not exist")
        with Image.open(path) as im:
            im.load()
            source = im.copy()
    if isinstance(source, Image.Image):
        if source.mode != "RGB":
            raise ValueError(
                f"the start image is in mode {source.mode!r}; convert it to RGB first (PIL: image.convert('RGB')), "
                "deciding yourself how to drop alpha or map a palette"
            )
        source = np.asarray(source)
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3:
            raise ValueError(f"a start image array must be (H, W, 3) RGB, got shape {source.shape}")
        if source.dtype != np.uint8:
            raise ValueError(
                f"a start image array must be uint8 (0-255), got {source.dtype}; pass a float tensor for [0, 1] values"
            )
        tensor = torch.from_numpy(source.copy()).permute(2, 0, 1).float() / 255  # (3, H, W)
    elif isinstance(source, torch.Tensor):
        tensor = source
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] != 3:
            raise ValueError(
                f"a start image tensor must be (3, H, W) or (1, 3, H, W) RGB, got shape {tuple(source.shape)}"
            )
        if not tensor.is_floating_point():
            raise ValueError(
                f"a start image tensor must be float in [0, 1], got {tensor.dtype}; divide uint8 pixels by 255"
            )
        if float(tensor.min()) < 0 or float(tensor.max()) > 1:
            raise ValueError(
                f"start image values span [{float(tensor.min()):.3g}, {float(tensor.max()):.3g}]; expected [0, 1]"
            )
        tensor = tensor.detach().float()
    else:
        raise ValueError(
            f"cannot use a {type(source).__name__} as a start image; give a path, a PIL RGB image or a tensor"
        )
    h, w = tensor.shape[-2:]
    if (h, w) != (image_size, image_size):
        raise ValueError(
            f"the start image is {w}x{h} pixels but the search works at {image_size}x{image_size}; resize or crop it "
            f"to {image_size}x{image_size} first (or set the attack's image_size to {h} if it is square)"
        )
    return tensor
