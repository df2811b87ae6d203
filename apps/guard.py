"""What a client may send a demo: files it uploaded, finite numbers, bounded bodies.

Gradio lets an API call name a file by path (``{"path": ..., "meta": {"_type": "gradio.FileData"}}``,
or a bare ``{"path": ...}``) and, for apps mounted on a FastAPI app, copies whatever that path names
into its cache before any handler runs, where ``/file=`` then serves it. :class:`UploadGuard` sits in
front of every demo and refuses, before Gradio reads anything, a JSON request that names a file
outside Gradio's upload folder (or anything there that is not a regular file: a device, a pipe, a
folder) or a URL, or a non-finite number (``NaN``, ``Infinity``). Its refusals are one line and never
echo the path they refuse.

Uploads themselves (``multipart/form-data`` to ``/gradio_api/upload``) land in the upload folder and
pass; so do a demo's own outputs sent back as inputs (Gradio caches them in the same folder).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["MAX_JSON_BYTES", "UploadGuard", "file_references", "refusal", "upload_folder"]

MAX_JSON_BYTES = 4 * 1024 * 1024  # an API call's JSON body; files travel as uploads, not inline


def upload_folder() -> Path:
    """Gradio's upload (and cache) folder, resolved: ``$GRADIO_TEMP_DIR`` or the system temp's ``gradio``."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def file_references(payload: Any) -> Iterator[str]:
    """Every value Gradio would read as a file: the ``path`` of any dict that has a string ``path``,
    however deeply nested (Gradio reads inputs by ``path`` and ignores their ``url``)."""
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str):
                yield item["path"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _is_uploaded(reference: str, root: Path) -> bool:
    """``reference`` resolves inside ``root`` to an existing regular file (checked with ``stat``,
    nothing is opened); a URL never does."""
    if "://" in reference or reference.startswith("data:"):
        return False
    try:
        resolved = Path(reference).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    if not resolved.is_relative_to(root):
        return False
    try:
        return stat.S_ISREG(os.stat(resolved).st_mode)
    except (OSError, ValueError):
        return False


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def refusal(body: bytes, root: Path) -> str | None:
    """Why a JSON request body must be refused (one line), or ``None`` when it may pass."""
    if len(body) > MAX_JSON_BYTES:
        return f"the request is larger than {MAX_JSON_BYTES // (1024 * 1024)} MB; upload files instead of inlining them"
    try:
        payload = json.loads(body, parse_constant=_reject_constant) if body.strip() else None
    except ValueError as err:
        if "non-finite" in str(err):
            return "the request holds a non-finite number (NaN or Infinity); send finite numbers"
        return None  # not JSON: Gradio answers it as it would
    for reference in file_references(payload):
        if not _is_uploaded(reference, root):
            return "a file input names a file that was not uploaded through this demo; upload the image with the demo's upload control"
    return None


class UploadGuard:
    """ASGI middleware: refuses (HTTP 400, ``{"detail": ...}``) JSON requests that :func:`refusal`
    refuses; passes everything else untouched.

    Args:
        app: the ASGI app behind it.
        root: the upload folder, or a callable giving it (default :func:`upload_folder`).
    """

    def __init__(self, app: Any, root: Path | Callable[[], Path] | None = None) -> None:
        self.app = app
        self._root = root or upload_folder

    def root(self) -> Path:
        return Path(self._root() if callable(self._root) else self._root).resolve()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if content_type.startswith("multipart/"):
            await self.app(scope, receive, send)  # an upload: Gradio writes it into the upload folder
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                await _respond(send, refusal(b" " * size, Path("/")) or "the request is too large")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        reason = refusal(body, self.root())
        if reason is not None:
            await _respond(send, reason)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _respond(send: Callable, reason: str) -> None:
    content = json.dumps({"detail": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
