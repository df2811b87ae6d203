"""The demo hub: one local web server with a page linking every registered demo, each demo mounted
under ``/demos/<name>/``.

Run it with ``workbench demo`` (or ``python -m apps.hub``); it binds 127.0.0.1 only. Every demo gets a
queue with a bounded size and one worker for model jobs, a file-size limit, Gradio's temporary files
under the apps folder (cleaned by ``delete_cache``), and no analytics; its bounded inputs refuse what
lies outside their bounds (:mod:`apps.limits`). Every request passes
:class:`apps.guard.UploadGuard` first: file inputs take only files uploaded through the demo. Errors
reach clients only as the demos' own one-line ``gr.Error`` messages (``show_error`` is off), and the
server serves no folder of its own (no ``allowed_paths``).
"""

from __future__ import annotations

import html
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from apps import DEMOS, DemoSpec, apps_home, load_demo_modules
from apps.guard import UploadGuard
from apps.limits import enforce_bounds

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
TITLE = "Workbench demos"
QUEUE_MAX_SIZE = 16
MAX_FILE_SIZE = "20mb"
DELETE_CACHE = (3600, 3600)  # (check every s, delete files older than s)


def _gradio_environment() -> None:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str(apps_home() / "gradio_tmp"))


def build_hub(specs: Sequence[DemoSpec]) -> Any:
    """The hub page: a title and one link (with its description) per demo.

    Returns:
        `gradio.Blocks`.
    """
    _gradio_environment()
    import gradio as gr

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_CACHE) as hub:
        gr.Markdown(
            f"# {TITLE}\nThe generation and robustness workbench's demos. Each opens in its own page."
        )
        if specs:
            items = "".join(
                f"<li><a href='demos/{s.name}/' target='_self'>{html.escape(s.title)}</a>: {html.escape(s.description)}</li>"
                for s in specs
            )
            gr.HTML(f"<ul>{items}</ul>", elem_id="demo-links")
        else:
            gr.HTML("<p>No module demo is registered yet.</p>", elem_id="demo-links")
    return hub


def _configure(blocks: Any) -> Any:
    """The hub's serving rules on any demo: bounded queue, one model job at a time, bounded inputs
    refused with messages naming them (:func:`apps.limits.enforce_bounds`), temp-file cleanup, no
    analytics."""
    enforce_bounds(blocks)
    blocks.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)
    if getattr(blocks, "delete_cache", None) is None:
        blocks.delete_cache = DELETE_CACHE
    blocks.analytics_enabled = False
    # Mounted apps never pass through ``launch()``, which is what turns on Gradio's own check that
    # inputs name only uploaded files; mark them launched so that check runs behind UploadGuard.
    blocks.has_launched = True
    return blocks


def build_app(name: str | None = None, specs: Sequence[DemoSpec] | None = None) -> Any:
    """A FastAPI app serving the hub at ``/`` and each demo at ``/demos/<name>/`` (or only demo
    ``name`` at ``/``).

    Args:
        name: serve only this registered demo.
        specs: the demos to serve (default: every registered demo).
    """
    _gradio_environment()
    import gradio as gr
    from fastapi import FastAPI

    if specs is None:
        load_demo_modules()
        specs = [DEMOS.get(name)] if name else [DEMOS.get(n) for n in DEMOS.names()]
    common = {"max_file_size": MAX_FILE_SIZE, "show_error": False, "ssr_mode": False}
    app = FastAPI()
    app.add_middleware(UploadGuard)
    if name:
        gr.mount_gradio_app(app, _configure(specs[0].build()), path="", **common)
        return app
    for spec in specs:
        gr.mount_gradio_app(app, _configure(spec.build()), path=f"/demos/{spec.name}", **common)
    gr.mount_gradio_app(app, _configure(build_hub(specs)), path="", **common)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(app: Any, port: int | None = None, timeout: float = 30.0) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` on 127.0.0.1 in a background thread; returns ``(url, stop)``."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the demo server did not start on {HOST}:{port} within {timeout:.0f} s")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://{HOST}:{port}/", stop


def serve(name: str | None = None, port: int = 7860) -> None:
    """Serve the hub (or demo ``name``) on http://127.0.0.1:PORT until interrupted."""
    import uvicorn

    app = build_app(name)
    logger.info("serving %s on http://%s:%d/ (Ctrl-C stops)", name or "the demo hub", HOST, port)
    uvicorn.run(app, host=HOST, port=port, log_level="warning")


if __name__ == "__main__":
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve()
