"""Bad inputs posted to the five running demos (loopback only, through the hub's app) are refused
before any model work: an error event (or an HTTP 4xx) with a one-line message naming what was wrong,
no traceback, no server path. A request past the per-request limit is stopped and the worker serves
the next request."""

from __future__ import annotations

import json
import math
import time

import pytest

httpx = pytest.importorskip("httpx")

DEMOS = ["watermarks", "layout", "retrieval", "multiconcept", "masterprints"]
PROMPT = "a large red circle on the left and a large blue star on the right"
HUGE = "a red circle " * 2000


@pytest.fixture(scope="module")
def server():
    from apps import DEMOS as REGISTRY
    from apps import load_demo_modules
    from apps.hub import build_app, start_server

    load_demo_modules()
    url, stop = start_server(build_app(specs=[REGISTRY.get(name) for name in DEMOS]))
    try:
        yield url
    finally:
        stop()


def _call(url: str, demo: str, api: str, data: list, timeout: float = 60.0) -> tuple[int, str]:
    """POST ``data`` to ``/call/<api>`` of ``demo``; returns (HTTP status, the refusal or the last event's
    kind and data)."""
    base = f"{url}demos/{demo}/gradio_api"
    r = httpx.post(f"{base}/call/{api}", content=json.dumps({"data": data}, allow_nan=True), timeout=timeout,
                   headers={"content-type": "application/json"})  # fmt: skip
    if r.status_code != 200:
        return r.status_code, r.json().get("detail", r.text)
    stream = httpx.get(f"{base}/call/{api}/{r.json()['event_id']}", timeout=timeout).text
    events = [block for block in stream.strip().split("\n\n") if block.startswith("event:")]
    kind, _, payload = events[-1].partition("\ndata: ")
    return 200, f"{kind.removeprefix('event: ')} {payload}"


def _refusal(status: int, text: str) -> str:
    """The refusal's message (asserting it is a refusal)."""
    if status != 200:
        assert status in (400, 422), (status, text)
        return str(text)
    assert text.startswith("error "), text[:300]
    message = json.loads(text.removeprefix("error "))["error"]
    assert isinstance(message, str), text
    return message


def _clean(message: str, *needles: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message
    for root in ("/work", "/root", "/tmp", "/etc", "/home", "/proc"):
        assert root not in message, message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)


def _watermark(**kw) -> list:
    base = dict(image=None, prompt="a red circle", watermark="dwtDct", payload="", attack="blur", strength=0.4,
                guidance=5.0, caption="", model="dummy", seed=0, steps=2)  # fmt: skip
    return list({**base, **kw}.values())


def _table(rows: list) -> dict:
    return {"headers": ["phrase", "x0", "y0", "x1", "y1"], "data": rows, "metadata": None}


def _layout(**kw) -> list:
    rows = [["a large red circle", 0.0, 0.2, 0.5, 0.8], ["a large blue star", 0.5, 0.2, 1.0, 0.8]]
    base = dict(model="dummy", prompt=PROMPT, table=_table(rows), method="box_guidance", steps=2,
                guidance=5.0, seed=0, show=True)  # fmt: skip
    return list({**base, **kw}.values())


def _poster(**kw) -> list:
    base = dict(
        model="dummy", product=None, prompt="a blue sky", taglines="Sale", steps=2, guidance=5.0, seed=0
    )
    return list({**base, **kw}.values())


def _gcdp(**kw) -> list:
    base = dict(model="dummy", prompt=PROMPT, steps=2, guidance=5.0, seed=0, temperature=1.0)
    return list({**base, **kw}.values())


def _gcdp_layout(**kw) -> list:
    base = dict(model="dummy", prompt=PROMPT, boxes="circle 0.1 0.1 0.5 0.5", steps=2, guidance=5.0, seed=0)
    return list({**base, **kw}.values())


def _retrieval(**kw) -> list:
    base = dict(prompt="a zorvik emblem", k=2, mode="reference", scheme="interleaved", ratio=0.5,
                guidance=5.0, steps=2, seed=0)  # fmt: skip
    return list({**base, **kw}.values())


def _compose(**kw) -> list:
    base = dict(model="dummy", prompt=PROMPT, steps=2, guidance=5.0, mask_weight=3.0, style=1.0, n=1, seed=0,
                baselines=False, e1=None, p1="", e2=None, p2="", e3=None, p3="", k1=None, k2=None, k3=None)  # fmt: skip
    return list({**base, **kw}.values())


def _mine(**kw) -> list:
    base = dict(key=None, prompts="a red circle", preset="custom (the text box)", model="dummy",
                optimizer="cma", space="vae_latent", evaluations=16, seconds=30, lr=0.05, popsize=8, seed=0)  # fmt: skip
    return list({**base, **kw}.values())


CASES: dict[str, tuple[str, str, list, tuple[str, ...]]] = {
    # watermarks: the issue's cases first
    "wm-steps--1": ("watermarks", "run", _watermark(steps=-1), ("diffusion steps", "1..100")),
    "wm-steps-0": ("watermarks", "run", _watermark(steps=0), ("diffusion steps", "1..100")),
    "wm-steps-999": ("watermarks", "run", _watermark(steps=999), ("diffusion steps", "1..100")),
    "wm-steps-1000": ("watermarks", "run", _watermark(steps=1000), ("diffusion steps", "1..100")),
    "wm-steps-1e308": ("watermarks", "run", _watermark(steps=1e308), ("diffusion steps",)),
    "wm-steps-text": ("watermarks", "run", _watermark(steps="many"), ("diffusion steps", "number")),
    "wm-steps-none": ("watermarks", "run", _watermark(steps=None), ("diffusion steps", "number")),
    "wm-steps-fraction": ("watermarks", "run", _watermark(steps=2.5), ("diffusion steps", "whole")),
    "wm-steps-nan": ("watermarks", "run", _watermark(steps=math.nan), ("non-finite",)),
    "wm-strength-0": ("watermarks", "run", _watermark(strength=0), ("strength",)),
    "wm-strength-inf": ("watermarks", "run", _watermark(strength=math.inf), ("non-finite",)),
    "wm-strength-2": ("watermarks", "run", _watermark(strength=2), ("strength",)),
    "wm-no-denoising-step": (
        "watermarks",
        "run",
        _watermark(attack="paraphrase", strength=0.05, steps=10),
        ("no denoising step",),
    ),  # fmt: skip
    "wm-guidance-100": ("watermarks", "run", _watermark(guidance=100), ("paraphrase guidance",)),
    "wm-seed--1": ("watermarks", "run", _watermark(seed=-1), ("seed", "0..2147483647")),
    "wm-seed-2**63": ("watermarks", "run", _watermark(seed=2**63), ("seed",)),
    "wm-huge-prompt": ("watermarks", "run", _watermark(prompt=HUGE), ("prompt", "at most 500")),
    "wm-huge-caption": ("watermarks", "run", _watermark(caption=HUGE), ("caption", "at most 500")),
    "wm-huge-payload": ("watermarks", "run", _watermark(payload="1" * 5000), ("payload", "at most 256")),
    "wm-watermark": ("watermarks", "run", _watermark(watermark="stegastamp"), ("unknown watermark",)),
    "wm-attack": ("watermarks", "run", _watermark(attack="__import__"), ("unknown attack",)),
    "wm-model-abs": ("watermarks", "run", _watermark(model="/etc"), ("model", "is not one of")),
    "wm-model-rel": ("watermarks", "run", _watermark(model="../../.."), ("model", "is not one of")),
    "wm-model-home": ("watermarks", "run", _watermark(model="~/.cache/huggingface"), ("model",)),
    "wm-model-hub": ("watermarks", "run", _watermark(model="someone/model"), ("model", "is not one of")),
    "wm-model-long": ("watermarks", "run", _watermark(model="m" * 1000), ("model", "at most 256")),
    "wm-gen-steps": ("watermarks", "generate", ["a red circle", "dummy", -4], ("seed",)),
    "wm-gen-prompt": ("watermarks", "generate", [HUGE, "dummy", 0], ("prompt", "at most 500")),
    "wm-gen-model": ("watermarks", "generate", ["a red circle", "/proc/self", 0], ("model",)),
    # layout
    "layout-steps-0": ("layout", "generate", _layout(steps=0), ("steps", "1..100")),
    "layout-steps-999": ("layout", "generate", _layout(steps=999), ("steps",)),
    "layout-guidance": ("layout", "generate", _layout(guidance=-3), ("guidance",)),
    "layout-seed": ("layout", "generate", _layout(seed=2**31), ("seed",)),
    "layout-prompt": ("layout", "generate", _layout(prompt=HUGE), ("prompt", "at most 500")),
    "layout-method": ("layout", "generate", _layout(method="dall-e"), ("unknown method",)),
    "layout-model": ("layout", "generate", _layout(model="/etc/passwd"), ("model", "is not one of")),
    "layout-rows": (
        "layout",
        "generate",
        _layout(table=_table([["a large red circle", 0, 0, 1, 1]] * 50)),
        ("at most 32",),
    ),  # fmt: skip
    "layout-box-text": (
        "layout",
        "generate",
        _layout(table=_table([["a large red circle", "x", 0, 1, 1]])),
        ("must be numbers",),
    ),  # fmt: skip
    "layout-plan-prompt": ("layout", "plan", [HUGE], ("prompt", "at most 500")),
    "layout-poster-steps": ("layout", "poster", _poster(steps=1000), ("steps",)),
    "layout-poster-taglines": ("layout", "poster", _poster(taglines=HUGE), ("taglines",)),
    "layout-poster-seed": ("layout", "poster", _poster(seed=-1), ("seed",)),
    "gcdp-steps": ("layout", "gcdp_joint", _gcdp(steps=500), ("steps", "1..100")),
    "gcdp-temperature": ("layout", "gcdp_joint", _gcdp(temperature=5), ("temperature",)),
    "gcdp-prompt": ("layout", "gcdp_joint", _gcdp(prompt=HUGE), ("prompt", "at most 500")),
    "gcdp-model": ("layout", "gcdp_joint", _gcdp(model="/etc"), ("model",)),
    "gcdp-boxes-class": ("layout", "gcdp_layout", _gcdp_layout(boxes="dragon 0 0 1 1"), ("class", "dragon")),
    "gcdp-boxes-huge": ("layout", "gcdp_layout", _gcdp_layout(boxes="circle 0 0 1 1\n" * 500), ("boxes",)),
    "gcdp-boxes-nan": ("layout", "gcdp_layout", _gcdp_layout(boxes="star 0 0 nan 1"), ("finite",)),
    # retrieval
    "rag-k-0": ("retrieval", "generate", _retrieval(k=0), ("neighbours k",)),
    "rag-k-99": ("retrieval", "generate", _retrieval(k=99), ("neighbours k",)),
    "rag-steps": ("retrieval", "generate", _retrieval(steps=999), ("steps",)),
    "rag-ratio": ("retrieval", "generate", _retrieval(ratio=-0.5), ("ratio",)),
    "rag-guidance": ("retrieval", "generate", _retrieval(guidance=1e9), ("guidance scale",)),
    "rag-seed": ("retrieval", "generate", _retrieval(seed=-2), ("seed",)),
    "rag-mode": ("retrieval", "generate", _retrieval(mode="exfiltrate"), ("unknown conditioning",)),
    "rag-prompt": ("retrieval", "generate", _retrieval(prompt=HUGE), ("prompt", "at most 500")),
    # multiconcept
    "mc-steps": ("multiconcept", "compose", _compose(steps=5000), ("ddim steps",)),
    "mc-guidance": ("multiconcept", "compose", _compose(guidance=0), ("guidance",)),
    "mc-mask-weight": ("multiconcept", "compose", _compose(mask_weight=11), ("mask weight",)),
    "mc-style": ("multiconcept", "compose", _compose(style=-1), ("style fidelity",)),
    "mc-images": ("multiconcept", "compose", _compose(n=100), ("images",)),
    "mc-seed": ("multiconcept", "compose", _compose(seed=2**40), ("seed",)),
    "mc-prompt": ("multiconcept", "compose", _compose(prompt=HUGE), ("target prompt",)),
    "mc-concept-prompt": ("multiconcept", "compose", _compose(p1=HUGE), ("concept 1 prompt",)),
    "mc-model": ("multiconcept", "compose", _compose(model="../../../etc"), ("model", "is not one of")),
    "mc-pick": ("multiconcept", "pick_1", ["/etc/passwd", None, None], ("toy concept",)),
    # masterprints
    "mp-evaluations": ("masterprints", "mine", _mine(evaluations=0), ("budget",)),
    "mp-evaluations-huge": ("masterprints", "mine", _mine(evaluations=10**12), ("budget",)),
    "mp-seconds": ("masterprints", "mine", _mine(seconds=10**6), ("time limit",)),
    "mp-lr": ("masterprints", "mine", _mine(lr=0), ("learning rate",)),
    "mp-popsize": ("masterprints", "mine", _mine(popsize=1), ("population",)),
    "mp-seed": ("masterprints", "mine", _mine(seed=-1), ("seed",)),
    "mp-model": ("masterprints", "mine", _mine(model="/etc"), ("clip model",)),
    "mp-optimizer": ("masterprints", "mine", _mine(optimizer="os.system"), ("optimiser",)),
    "mp-space": ("masterprints", "mine", _mine(space="disk"), ("search space",)),
    "mp-prompt-lines": ("masterprints", "mine", _mine(prompts="x\n" * 2000), ("limit of 1024",)),
    "mp-prompt-line": ("masterprints", "mine", _mine(prompts="x" * 5000), ("at most 200 per line",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_refused_with_one_clean_line(server, case):
    demo, api, data, needles = CASES[case]
    start = time.monotonic()
    message = _refusal(*_call(server, demo, api, data))
    _clean(message, *needles)
    assert time.monotonic() - start < 30  # refused before any model work


def test_the_issue_cases_number_at_least_sixty():
    assert len(CASES) >= 60 and {c[0] for c in CASES.values()} == set(DEMOS)


def test_a_long_request_is_stopped_and_the_worker_serves_the_next(server, monkeypatch):
    from apps.limits import REQUEST_SECONDS_ENV

    _call(server, "watermarks", "run", _watermark())  # load the dummy models first
    monkeypatch.setenv(REQUEST_SECONDS_ENV, "0.5")
    start = time.monotonic()
    slow = _watermark(
        attack="paraphrase", strength=1.0, steps=100, watermark="gaussian_shading", prompt="a red circle"
    )
    message = _refusal(*_call(server, "watermarks", "run", slow))
    _clean(message, "longer than the demo's limit of 0.5 s")
    assert time.monotonic() - start < 20
    monkeypatch.delenv(REQUEST_SECONDS_ENV)
    status, text = _call(server, "watermarks", "run", _watermark())
    assert status == 200 and text.startswith("complete"), text[:300]
