"""Reading image files into the metrics' convention: float32 RGB in [0, 1], shape (3, H, W).

Conversion rules (one place, documented, never silent about what it cannot do):

- 8-bit images (L, P, RGB, CMYK, YCbCr ...) are divided by 255; 16-bit PNG / TIFF by 65535 (16-bit
  colour PNGs are decoded at full 16-bit precision, which Pillow alone does not do); float TIFFs must
  already lie in [0, 1].
- Grayscale is replicated to 3 channels (R = G = B).
- An alpha channel is composited over a white background (``alpha="white"``, the default, as image
  viewers show it), over black (``alpha="black"``), or refused (``alpha="reject"``). Palette images
  with transparency count as having alpha.
- 1-bit images are 0 / 1; 32-bit integer images are refused (their range is ambiguous).
- Unreadable or truncated files raise :class:`ImageReadError` naming the file.
- Images over ``max_pixels`` (:data:`DEFAULT_MAX_PIXELS` by default) are refused from their header,
  before any pixel is decoded (a 5000 x 5000 image costs gigabytes in float32 copies).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from metrics._png16 import png_header, read_png16
from metrics.limits import DEFAULT_MAX_PIXELS

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
ALPHA_MODES = ("white", "black", "reject")


class ImageReadError(ValueError):
    """An image file that cannot be turned into [0, 1] RGB pixels."""


def _to_float(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        a = array.astype(np.float32)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ImageReadError(f"{path}: floating point image values must lie in [0, 1]")
        return a
    raise ImageReadError(
        f"{path}: unsupported pixel type {array.dtype} (ambiguous value range); save as 8- or 16-bit"
    )


def _compose(array: np.ndarray, path: Path, alpha: str) -> np.ndarray:
    """(H, W[, C]) float [0, 1] -> (H, W, 3) applying the grayscale and alpha rules."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ImageReadError(f"{path}: unsupported image layout {array.shape}")
    c = array.shape[-1]
    if c in (2, 4):
        if alpha == "reject":
            raise ImageReadError(
                f"{path}: has an alpha channel; composite it first or use alpha='white'/'black'"
            )
        colour, a = array[..., :-1], array[..., -1:]
        background = 1.0 if alpha == "white" else 0.0
        array = colour * a + background * (1.0 - a)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


def load_image(path: str | Path, alpha: str = "white", max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file as RGB pixels.

    Args:
        path: a PNG, JPEG, BMP, TIFF, WebP or GIF file (first frame).
        alpha: ``"white"``, ``"black"`` or ``"reject"`` (see the module rules).
        max_pixels: the largest width x height read; larger images are refused before decoding.

    Returns:
        `torch.Tensor` of shape `(3, H, W)`, float32, values in [0, 1].

    Raises:
        ImageReadError: missing, unreadable, truncated or unsupported files, naming the file.
    """
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}")
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    _check_pixels(path, max_pixels)
    try:
        array = _read_array(path)
    except ImageReadError:
        raise
    except Exception as err:  # PIL.UnidentifiedImageError, OSError (truncated), ValueError ...
        raise ImageReadError(f"{path}: cannot read image ({type(err).__name__}: {err})") from err
    rgb = _compose(_to_float(array, path), path, alpha)  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header without decoding pixels (``None`` when unknown)."""
    header = png_header(path)
    if header is not None:
        return header[0], header[1]
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: refused before decoding, {err} Downscale it first") from None
    except Exception:  # unreadable here: the reader raises the clear error
        return None


def _check_pixels(path: Path, max_pixels: int) -> None:
    """Refuse an image whose header size exceeds ``max_pixels``."""
    size = _header_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(
            f"{path}: {size[0]} x {size[1]} = {size[0] * size[1]} pixels is over the limit of {max_pixels}; "
            "downscale it, or raise the limit with --max-pixels"
        )


def _read_array(path: Path) -> np.ndarray:
    header = png_header(path)
    if header is not None and header[2] == 16:
        return read_png16(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        array = tifffile.imread(str(path))
        if array.ndim == 3 and array.shape[0] in (1, 2, 3, 4) and array.shape[-1] not in (1, 2, 3, 4):
            array = np.moveaxis(array, 0, -1)  # planar (C, H, W) -> (H, W, C)
        return array
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.load()  # raises on truncated data
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode == "PA":
                im = im.convert("RGBA")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16)
            elif mode in ("I", "F"):
                raise ImageReadError(
                    f"{path}: {mode} images (32-bit) have no defined range; save as 8- or 16-bit"
                )
            return np.asarray(im)


def list_images(folder: str | Path) -> dict[str, Path]:
    """Image files of ``folder`` (not recursive) by stem, sorted; hidden files and other extensions
    are skipped.

    Raises:
        FileNotFoundError: ``folder`` is not a directory.
        ImageReadError: two files share a stem (``a.png`` and ``a.jpg``), so pairing would be ambiguous.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.stem in found:
            raise ImageReadError(f"{folder}: {found[p.stem].name} and {p.name} have the same name; keep one")
        found[p.stem] = p
    return found


def pair_images(pred_dir: str | Path, ref_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """``[(stem, pred_path, ref_path)]`` for files of the same stem in both folders.

    Raises:
        ImageReadError: a folder has no images, or some files have no partner (all are listed).
    """
    pred, ref = list_images(pred_dir), list_images(ref_dir)
    if not pred:
        raise ImageReadError(f"{pred_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if not ref:
        raise ImageReadError(f"{ref_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    only_pred, only_ref = sorted(set(pred) - set(ref)), sorted(set(ref) - set(pred))
    if only_pred or only_ref:
        parts = []
        if only_pred:
            parts.append(
                f"{len(only_pred)} in --pred without a reference: {', '.join(pred[s].name for s in only_pred[:10])}"
            )
        if only_ref:
            parts.append(
                f"{len(only_ref)} in --ref without a prediction: {', '.join(ref[s].name for s in only_ref[:10])}"
            )
        raise ImageReadError(
            "unpaired images (files are paired by name without extension): " + "; ".join(parts)
        )
    return [(s, pred[s], ref[s]) for s in sorted(pred)]
