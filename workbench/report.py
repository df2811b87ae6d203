"""Self-contained HTML reports: text, tables, image grids, matplotlib figures and metrics.

A :class:`Report` keeps its sections as JSON-able dicts plus PNG assets, so a run folder can store
them (``report/sections.json`` + ``report/assets/*.png``) and ``workbench report RUN_DIR`` can rebuild
``report.html`` later. The HTML inlines every image as base64 and carries its own CSS: no external
file, script or font, so it opens from disk in any browser.

Example:
    >>> import torch
    >>> r = Report("demo")
    >>> r.add_images("noise", [torch.rand(3, 8, 8) for _ in range(2)], captions=["a", "b"])
    >>> r.add_table("scores", [{"method": "x", "auc": 0.91}])
    >>> "<img" in r.to_html()
    True
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from workbench.io import atomic_write_bytes, atomic_write_json, atomic_write_text, image_to_png_bytes

SECTIONS_FILE = "sections.json"
ASSETS_DIR = "assets"

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #eee; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; gap: .5rem; margin: .5rem 0; }
figure { margin: 0; text-align: center; }
figure img { width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
figcaption { font-size: .75rem; color: #555; word-break: break-word; }
img.figure { max-width: 100%; }
pre { background: #f5f5f7; padding: .6rem; overflow-x: auto; font-size: .8rem; }
code { background: #f5f5f7; padding: 0 .2rem; }
.caption { color: #555; font-size: .85rem; }
"""


class Report:
    """An ordered list of report sections, rendered to one self-contained HTML file.

    Args:
        title: the page title and top heading.
    """

    def __init__(self, title: str = "Report") -> None:
        self.title = title
        self.sections: list[dict[str, Any]] = []
        self.assets: dict[str, bytes] = {}

    # ------------------------------------------------------------------ adding sections
    def add_text(self, text: str, title: str | None = None) -> None:
        """Add a paragraph of Markdown (headings, lists, ``code``, **bold**, links) or raw HTML (text
        starting with ``<``)."""
        self.sections.append({"type": "text", "title": title, "text": str(text)})

    def add_table(self, title: str, rows: list[dict[str, Any]], caption: str | None = None) -> None:
        """Add a table; columns are the union of the rows' keys in first-seen order."""
        clean = [{str(k): _jsonable(v) for k, v in row.items()} for row in rows]
        self.sections.append({"type": "table", "title": title, "rows": clean, "caption": caption})

    def add_images(
        self,
        title: str,
        images: list[torch.Tensor | np.ndarray | Image.Image] | torch.Tensor,
        captions: list[str] | None = None,
        ncols: int = 8,
        caption: str | None = None,
    ) -> None:
        """Add an image grid.

        Args:
            images: a list of images (tensors ``(3, H, W)`` in [0, 1], arrays, PIL images) or one tensor
                of shape ``(N, 3, H, W)`` in [0, 1].
            captions: one string per image, or ``None``.
            ncols: grid columns.
        """
        if isinstance(images, torch.Tensor):
            if images.ndim != 4:
                raise ValueError(
                    f"add_images takes a (N, 3, H, W) tensor or a list, got shape {tuple(images.shape)}"
                )
            images = list(images)
        if captions is not None and len(captions) != len(images):
            raise ValueError(f"add_images got {len(images)} images but {len(captions)} captions")
        names = [self._add_asset(image_to_png_bytes(im)) for im in images]
        self.sections.append(
            {
                "type": "images",
                "title": title,
                "images": names,
                "captions": [str(c) for c in captions] if captions is not None else None,
                "ncols": max(1, int(ncols)),
                "caption": caption,
            }
        )

    def add_figure(self, title: str, figure: Any, caption: str | None = None, dpi: int = 100) -> None:
        """Add a matplotlib figure, rendered to PNG (the figure is left open; close it yourself)."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        name = self._add_asset(buffer.getvalue())
        self.sections.append({"type": "figure", "title": title, "image": name, "caption": caption})

    def add_metrics(self, metrics: dict[str, Any], title: str = "Metrics") -> None:
        """Add a two-column table of (flattened, dotted) metric names and values."""
        # deferred: the workbench.runs package imports this module (its run context writes reports)
        from workbench.runs.metrics import flatten_metrics

        flat = {k: _jsonable(v) for k, v in flatten_metrics(metrics).items()}
        self.sections.append({"type": "metrics", "title": title, "metrics": flat})

    def _add_asset(self, data: bytes) -> str:
        name = f"{len(self.assets):04d}.png"
        self.assets[name] = data
        return name

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Store the sections (``sections.json``) and their images (``assets/*.png``) in ``folder``."""
        folder = Path(folder)
        for name, data in self.assets.items():
            atomic_write_bytes(folder / ASSETS_DIR / name, data)
        atomic_write_json(folder / SECTIONS_FILE, {"title": self.title, "sections": self.sections})
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Report:
        """Rebuild a report saved with :meth:`save`."""
        folder = Path(folder)
        path = folder / SECTIONS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no saved report sections at {str(path)!r}")
        data = json.loads(path.read_text(encoding="utf-8"))
        report = cls(data.get("title", "Report"))
        report.sections = list(data.get("sections", []))
        for section in report.sections:
            for name in section.get("images", []) + ([section["image"]] if "image" in section else []):
                report.assets[name] = (folder / ASSETS_DIR / name).read_bytes()
        return report

    # ------------------------------------------------------------------ rendering
    def to_html(self, extra_sections: list[dict[str, Any]] | None = None) -> str:
        """The whole report as one HTML page (``extra_sections`` are appended, not stored)."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for section in self.sections + list(extra_sections or []):
            body.append(self._render(section))
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )

    def write(self, path: str | Path, extra_sections: list[dict[str, Any]] | None = None) -> Path:
        """Write the self-contained HTML page to ``path`` atomically."""
        return atomic_write_text(path, self.to_html(extra_sections))

    def _render(self, section: dict[str, Any]) -> str:
        kind = section.get("type")
        parts = [f"<h2>{html.escape(section['title'])}</h2>"] if section.get("title") else []
        if kind == "text":
            parts.append(markdown_to_html(section["text"]))
        elif kind == "table":
            parts.append(_table_html(section["rows"]))
        elif kind == "metrics":
            rows = [{"metric": k, "value": v} for k, v in section["metrics"].items()]
            parts.append(_table_html(rows))
        elif kind == "images":
            captions = section.get("captions") or [None] * len(section["images"])
            cells = []
            for name, cap in zip(section["images"], captions):
                img = f"<img src='{self._data_uri(name)}' alt='{html.escape(cap or name)}'>"
                figcap = f"<figcaption>{html.escape(cap)}</figcaption>" if cap else ""
                cells.append(f"<figure>{img}{figcap}</figure>")
            style = f"grid-template-columns: repeat({section['ncols']}, minmax(0, 160px));"
            parts.append(f"<div class='grid' style='{style}'>{''.join(cells)}</div>")
        elif kind == "figure":
            parts.append(f"<img class='figure' src='{self._data_uri(section['image'])}' alt='figure'>")
        elif kind == "html":  # extra sections built at render time (run information)
            parts.append(section["html"])
        else:
            raise ValueError(f"unknown report section type {kind!r}")
        if section.get("caption"):
            parts.append(f"<p class='caption'>{html.escape(section['caption'])}</p>")
        return "<section>" + "".join(parts) + "</section>"

    def _data_uri(self, name: str) -> str:
        return "data:image/png;base64," + base64.b64encode(self.assets[name]).decode("ascii")


# ---------------------------------------------------------------------------------------------- formatting
def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.detach().cpu().tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _format_value(value: Any) -> tuple[str, bool]:
    if isinstance(value, bool) or value is None:
        return html.escape(str(value)), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return (f"{value:.4g}" if abs(value) < 1e5 else f"{value:.4e}"), True
    return html.escape(str(value)), False


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='caption'>(empty table)</p>"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    lines = []
    for row in rows:
        cells = []
        for c in columns:
            text, numeric = _format_value(row.get(c, ""))
            cells.append(f"<td class='num'>{text}</td>" if numeric else f"<td>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _inline_markdown(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"<a href='\2'>\1</a>", text)
    return text


def markdown_to_html(text: str) -> str:
    """A small Markdown subset: ``#`` headings, ``-`` lists, fenced code, inline code, bold, links,
    paragraphs. Text that starts with ``<`` is taken as HTML."""
    if text.lstrip().startswith("<"):
        return text
    out: list[str] = []
    paragraph: list[str] = []
    in_list = in_code = False

    def flush() -> None:
        nonlocal in_list
        if paragraph:
            out.append("<p>" + " ".join(_inline_markdown(p) for p in paragraph) + "</p>")
            paragraph.clear()
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in text.splitlines():
        if line.strip().startswith("```"):
            flush()
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("#"):
            flush()
            level = min(len(stripped) - len(stripped.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{_inline_markdown(stripped.lstrip('#').strip())}</h{level}>")
        elif stripped.startswith(("- ", "* ")):
            if paragraph:
                out.append("<p>" + " ".join(_inline_markdown(p) for p in paragraph) + "</p>")
                paragraph.clear()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline_markdown(stripped[2:])}</li>")
        else:
            paragraph.append(stripped)
    if in_code:
        out.append("</pre>")
    flush()
    return "\n".join(out)
