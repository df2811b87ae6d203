"""What one demo request may ask for and how long it may run.

Input checks (:func:`integer`, :func:`number`, :func:`text`, :func:`choice`, :func:`seed`) raise
:class:`InputError`, a ``ValueError`` whose message is one line naming the input and its bounds. The
demos' Gradio components carry the same bounds (``minimum``/``maximum``, which Gradio enforces before a
handler runs); the handlers check again because they are also called directly.

Every demo handler is wrapped by :func:`demo_handler`: the request gets a deadline
(``$WORKBENCH_DEMO_REQUEST_SECONDS``, default :data:`DEFAULT_REQUEST_SECONDS`), which a global
``torch.nn.Module`` forward pre-hook checks before every module call, so a long diffusion loop stops at
its next forward with :class:`RequestTimeout` and the worker is freed. The wrapper turns refusals and
timeouts into a one-line ``gr.Error`` whose text names no server path, and any other failure into a
generic one-line ``gr.Error`` (the details go to the server log only).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from workbench.loading import ModelNotAvailableError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_REQUEST_SECONDS",
    "MAX_CAPTION_CHARS",
    "MAX_MODEL_CHARS",
    "MAX_PROMPT_CHARS",
    "SEED_MAX",
    "InputError",
    "RequestTimeout",
    "check_deadline",
    "choice",
    "deadline",
    "demo_handler",
    "enforce_bounds",
    "integer",
    "number",
    "public_message",
    "remaining_seconds",
    "request_seconds",
    "seed",
    "text",
]

DEFAULT_REQUEST_SECONDS = 120.0
REQUEST_SECONDS_ENV = "WORKBENCH_DEMO_REQUEST_SECONDS"
SEED_MAX = 2**31 - 1  # torch.Generator and numpy both take it
MAX_PROMPT_CHARS = 500  # CLIP reads 77 tokens; 500 characters is several prompts' worth
MAX_CAPTION_CHARS = 500
MAX_MODEL_CHARS = 256
MAX_MESSAGE_CHARS = 300

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("demo_deadline", default=None)
_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("demo_limit", default=None)
_HOOK_LOCK = threading.Lock()
_HOOK: dict[str, Any] = {"handle": None, "active": 0}
# An absolute (or home- or dot-relative) path: a slash run not preceded by a word character.
_PATH = re.compile(r"(?<![\w.~/-])(?:~|\.{1,2})?/[^\s'\"(),;\]]+")


class InputError(ValueError):
    """A demo input out of its bounds (one-line message naming the input)."""


class RequestTimeout(TimeoutError):
    """The request ran past its deadline (raised by the forward pre-hook)."""


# --------------------------------------------------------------------------------------------- inputs


def _finite(name: str, value: Any) -> float:
    """``value`` as a finite float, or :class:`InputError` naming ``name``."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        raise InputError(f"{name} must be a number, got {_short(value)}")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise InputError(f"{name} must be a number, got {_short(value)}") from err
    if not math.isfinite(out):
        raise InputError(f"{name} must be a finite number, got {out}")
    return out


def integer(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (whole numbers only), else :class:`InputError`."""
    out = _finite(name, value)
    if out != int(out):
        raise InputError(f"{name} must be a whole number, got {out:g}")
    if not low <= out <= high:
        shown = int(out) if abs(out) < 1e15 else f"{out:g}"
        raise InputError(f"{name} must lie in {low}..{high}, got {shown}")
    return int(out)


def number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` when ``low_open``), else :class:`InputError`."""
    out = _finite(name, value)
    if out > high or out < low or (low_open and out == low):
        interval = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
        raise InputError(f"{name} must lie in {interval}, got {out:g}")
    return out


def seed(value: Any) -> int:
    """A seed in ``0..2**31-1``."""
    return integer("seed", value, 0, SEED_MAX)


def text(name: str, value: Any, max_chars: int, required: str | None = None) -> str:
    """``value`` stripped, at most ``max_chars`` characters; ``required``: the message when it is empty."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise InputError(f"{name} has {len(value)} characters; the demo takes at most {max_chars}")
    value = value.strip()
    if required is not None and not value:
        raise InputError(required)
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else :class:`InputError` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"unknown {name} {_short(value)}; choose one of: {', '.join(choices)}")
    return value


def _short(value: Any, limit: int = 60) -> str:
    """``value`` quoted for a message: at most ``limit`` characters, absolute paths scrubbed."""
    shown = repr(public_message(value) if isinstance(value, str) else value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------- deadline


def request_seconds() -> float:
    """The per-request limit: ``$WORKBENCH_DEMO_REQUEST_SECONDS`` (a positive number) or the default."""
    raw = os.environ.get(REQUEST_SECONDS_ENV, "")
    if not raw.strip():
        return DEFAULT_REQUEST_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds <= 0:
        logger.warning(
            "%s=%r is not a positive number; using %g s", REQUEST_SECONDS_ENV, raw, DEFAULT_REQUEST_SECONDS
        )
        return DEFAULT_REQUEST_SECONDS
    return seconds


def remaining_seconds() -> float | None:
    """Seconds left before the current request's deadline (``None`` outside a request)."""
    end = _DEADLINE.get()
    return None if end is None else end - time.monotonic()


def check_deadline() -> None:
    """Raise :class:`RequestTimeout` when the current request is past its deadline."""
    end = _DEADLINE.get()
    if end is not None and time.monotonic() > end:
        raise RequestTimeout(
            f"the request ran longer than the demo's limit of {_LIMIT.get() or 0:g} s and was stopped; "
            "use fewer steps or a smaller setting"
        )


def _forward_pre_hook(module: Any, args: Any) -> None:
    check_deadline()


def _hook_on() -> None:
    import torch

    with _HOOK_LOCK:
        if _HOOK["active"] == 0:
            _HOOK["handle"] = torch.nn.modules.module.register_module_forward_pre_hook(_forward_pre_hook)
        _HOOK["active"] += 1


def _hook_off() -> None:
    with _HOOK_LOCK:
        _HOOK["active"] -= 1
        if _HOOK["active"] == 0 and _HOOK["handle"] is not None:
            _HOOK["handle"].remove()  # no request runs: modules run hook-free (torch's fast path)
            _HOOK["handle"] = None


@contextmanager
def deadline(seconds: float, end: float | None = None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (or at monotonic time ``end``); every torch
    module forward inside it (in this thread or a context copied from it) checks the deadline."""
    _hook_on()
    token = _DEADLINE.set(end if end is not None else time.monotonic() + seconds)
    limit = _LIMIT.set(seconds)
    try:
        yield
    finally:
        _LIMIT.reset(limit)
        _DEADLINE.reset(token)
        _hook_off()


# ------------------------------------------------------------------------------------------ components


def _bounded_preprocess(component: Any) -> Callable[[Any], Any] | None:
    """A preprocess for ``component`` that refuses out-of-bounds payloads with this module's one-line
    messages (naming the component's label) before Gradio's own preprocess runs; ``None`` when the
    component has no bounds to check."""
    import gradio as gr

    name = str(getattr(component, "label", None) or "input")
    if isinstance(component, gr.Image | gr.ImageEditor):
        return _readable_image_preprocess(name, component.preprocess)
    if not isinstance(component, gr.Number | gr.Slider | gr.Textbox | gr.Dropdown):
        return None
    original = component.preprocess
    if isinstance(component, gr.Number | gr.Slider):
        low, high = getattr(component, "minimum", None), getattr(component, "maximum", None)
        if low is None or high is None:
            return None
        step = getattr(component, "step", None) if isinstance(component, gr.Slider) else None
        whole = getattr(component, "precision", None) == 0 or (
            step is not None and all(float(v).is_integer() for v in (step, low, high))
        )

        def check(payload: Any) -> None:
            if whole:
                integer(name, payload, int(low), int(high))
            else:
                number(name, payload, float(low), float(high))

    elif isinstance(component, gr.Textbox) and getattr(component, "max_length", None):
        limit = int(component.max_length)

        def check(payload: Any) -> None:
            text(name, payload, limit)

    elif isinstance(component, gr.Dropdown) and not (component.allow_custom_value or component.multiselect):
        values = [value for _, value in component.choices]

        def check(payload: Any) -> None:
            if payload is not None and payload not in values:
                shown = ", ".join(str(v) for v in values)
                raise InputError(f"unknown {name} {_short(payload)}; choose one of: {shown}")

    else:
        return None

    def preprocess(payload: Any) -> Any:
        try:
            check(payload)
        except InputError as err:
            raise gr.Error(public_message(str(err))) from None
        return original(payload)

    return preprocess


def _readable_image_preprocess(name: str, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Gradio's image preprocess, with a one-line refusal naming the input when the upload is not an
    image Pillow can read (a text file named ``.png``, a truncated file, a decompression bomb)."""
    import gradio as gr
    from PIL import Image

    def preprocess(payload: Any) -> Any:
        try:
            return original(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error(
                f"{name}: the image has too many pixels; upload one of at most 4096 x 4096"
            ) from None
        except Exception as err:  # PIL's UnidentifiedImageError, OSError on a truncated file, ...
            logger.info("%s: unreadable upload (%s)", name, type(err).__name__)
            raise gr.Error(
                f"{name}: the uploaded file is not an image this demo can read; upload a PNG or JPEG"
            ) from None

    return preprocess


def enforce_bounds(blocks: Any) -> Any:
    """Make every bounded input of ``blocks`` (``gr.Number``/``gr.Slider`` with ``minimum`` and
    ``maximum``, ``gr.Textbox`` with ``max_length``, ``gr.Dropdown`` without custom values) refuse a
    payload outside its bounds, a non-number or a non-finite number with a one-line ``gr.Error`` that
    names its label, before any handler runs; image inputs refuse an upload that is not a readable image
    the same way. Gradio checks numbers itself, but its messages name no
    input, a non-numeric payload fails its comparison without a message, and it leaves text lengths to
    the browser. Idempotent; returns ``blocks``."""
    for component in list(getattr(blocks, "blocks", {}).values()):
        if getattr(component, "_bounds_enforced", False):
            continue
        preprocess = _bounded_preprocess(component)
        if preprocess is not None:
            component.preprocess = preprocess
            component._bounds_enforced = True
    return blocks


# -------------------------------------------------------------------------------------------- wrapper


def public_message(message: str) -> str:
    """``message`` as one line, without server paths (replaced by ``<path>``), at most 300 characters."""
    line = " ".join(_PATH.sub("<path>", str(message)).split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."


def _refusal(err: BaseException) -> Exception:
    """The ``gr.Error`` a client sees for ``err`` (the log keeps the details of unexpected failures)."""
    import gradio as gr

    if isinstance(err, gr.Error):
        return gr.Error(public_message(err.message or "the request was refused"))
    if isinstance(err, ValueError | FileNotFoundError | ModelNotAvailableError | RequestTimeout):
        return gr.Error(public_message(str(err) or type(err).__name__))
    logger.error("demo request failed", exc_info=err)
    return gr.Error(f"the demo failed on this request ({type(err).__name__}); the server log has the details")


def demo_handler(fn: Callable) -> Callable:
    """Wrap a demo handler (a function or a generator function): it runs under the request deadline,
    and every error it raises reaches the client as a one-line ``gr.Error`` naming no server path."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            seconds = request_seconds()
            end = time.monotonic() + seconds
            items = fn(*args, **kwargs)
            try:
                while True:
                    # Gradio may run each step in another worker thread: the deadline is set per step
                    try:
                        with deadline(seconds, end):
                            item = next(items)
                    except StopIteration:
                        return
                    except Exception as err:
                        raise _refusal(err) from None
                    yield item
            finally:
                items.close()  # the client left (or the run ended): the handler cleans up

        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            with deadline(request_seconds()):
                return fn(*args, **kwargs)
        except Exception as err:
            raise _refusal(err) from None

    return call
