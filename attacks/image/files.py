"""Reading and writing the image files users bring (single files or folders), with clear errors.

Accepted: 8-bit RGB or greyscale files that Pillow reads (PNG, JPEG, WebP, BMP, TIFF, ...), at least
``min_side`` and at most ``max_pixels``. Refused with a message saying what to do: unreadable or
corrupt files, images with an alpha channel (RGBA, LA, P with transparency), 16-bit or float images,
animations (several frames), images that are too small or too large (decompression bombs included:
the size is read from the header before any pixel is decoded). Outputs are written as PNG (lossless, so writing does not
attack the watermark itself).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from workbench.io import pil_to_tensor, save_image

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_MIN_SIDE = 16
DEFAULT_MAX_PIXELS = 4096 * 4096


class ImageFileError(ValueError):
    """An input image file cannot be used; the message says why and what to do."""


def _png_bit_depth(path: Path) -> int | None:
    with open(path, "rb") as fh:
        header = fh.read(26)
    if header[:8] != b"\x89PNG\r\n\x1a\n" or len(header) < 25:
        return None
    return header[24]


def load_image_file(
    path: str | Path, min_side: int = DEFAULT_MIN_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Read one image file as a float tensor ``(3, H, W)`` in [0, 1].

    Raises:
        ImageFileError: missing, corrupt, alpha, 16-bit / float, too small or too large images.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():  # the size check below refuses what Pillow only warns about
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_size(path, im, min_side, max_pixels)
                im.verify()  # catches truncated and corrupt files early
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                raise ImageFileError(
                    f"{path}: an animation of {im.n_frames} frames; save the frame to use as a PNG first"
                )
            mode = im.mode
            depth = _png_bit_depth(path) if im.format == "PNG" else None
            bits = im.tag_v2.get(258) if im.format == "TIFF" and hasattr(im, "tag_v2") else None
            if (
                mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
                or (depth is not None and depth > 8)
                or (bits is not None and max(bits if isinstance(bits, tuple) else (bits,)) > 8)
            ):
                raise ImageFileError(
                    f"{path}: 16-bit or floating-point images are not supported (mode {mode}); convert it to 8-bit RGB first"
                )
            if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
                raise ImageFileError(
                    f"{path}: the image has an alpha channel (mode {mode}); flatten it onto a background and save it as RGB"
                )
            if mode not in ("RGB", "L", "P", "CMYK", "YCbCr", "1"):
                raise ImageFileError(f"{path}: unsupported image mode {mode}; convert it to 8-bit RGB")
            rgb = im.convert("RGB")
            rgb.load()
    except ImageFileError:
        raise
    except DecompressionBombError as err:
        raise ImageFileError(f"{path}: refused before decoding, {err} Downscale it first") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageFileError(
            f"{path}: not a readable image ({err}); check that the file is a complete PNG/JPEG"
        ) from err

    return pil_to_tensor(rgb)


def _check_size(path: Path, im: Image.Image, min_side: int, max_pixels: int) -> None:
    """Refuse an image whose header size is over ``max_pixels`` or under ``min_side`` (no pixel decoded)."""
    w, h = im.size
    if w * h > max_pixels:
        raise ImageFileError(
            f"{path}: {w} x {h} pixels is more than the limit of {max_pixels} pixels; downscale it first"
        )
    if min(w, h) < min_side:
        raise ImageFileError(f"{path}: {w} x {h} is too small (each side must be at least {min_side} pixels)")


def list_image_files(path: str | Path) -> list[Path]:
    """The image files in a folder (sorted, by suffix), or ``[path]`` for a file.

    Raises:
        ImageFileError: a missing path or a folder without image files.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImageFileError(f"{path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFileError(f"{path}: the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def output_paths(inputs: list[Path], source: Path, out: str | Path) -> list[Path]:
    """Where each input's result goes: ``out`` itself for one file (must end in ``.png``), else
    ``out/<stem>.png`` for a folder."""
    out = Path(out)
    if source.is_file():
        if out.suffix.lower() != ".png":
            if out.suffix:
                raise ImageFileError(
                    f"{out}: outputs are written as PNG (lossless); use a .png path or a folder"
                )
            return [out / f"{inputs[0].stem}.png"]
        return [out]
    if out.suffix:
        raise ImageFileError(f"{out}: the input is a folder, so the output must be a folder too")
    return [out / f"{p.stem}.png" for p in inputs]


def check_output(out: str | Path) -> None:
    """Refuse an output path that cannot be written, before any image is processed.

    Raises:
        ImageFileError: ``out`` is a folder where a ``.png`` file is wanted, or a file lies in the way of
            its folders, or its nearest existing folder is not writable.
    """
    out = Path(out)
    if out.suffix and out.is_dir():
        raise ImageFileError(f"{out}: is a folder; pass a .png file path, or a folder path without a suffix")
    if not out.suffix and out.exists() and not out.is_dir():
        raise ImageFileError(f"{out}: is a file; the output folder must be a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ImageFileError(f"{out}: cannot be written, {parent} is a file")
            if not os.access(parent, os.W_OK):
                raise ImageFileError(f"{out}: cannot be written, {parent} is not writable")
            return


def save_image_file(path: str | Path, image: torch.Tensor) -> Path:
    """Write one ``(3, H, W)`` [0, 1] image as PNG (atomically; parent folders created).

    Raises:
        ImageFileError: the file cannot be written (the message names ``path``, not a temporary file).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return save_image(path, image)
    except OSError as err:
        raise ImageFileError(
            f"{path}: cannot be written ({err.strerror or err}); choose a writable path"
        ) from None
