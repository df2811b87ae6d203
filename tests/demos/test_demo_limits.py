"""Demo inputs have bounds, requests a time limit, model boxes a root, model caches a size: the shared
helpers (apps.limits, apps.cache, apps.models) and every demo's plain handlers, called directly with
bad inputs. Every refusal is one line, names what was wrong, and names no server path."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

PROMPT = "a large red circle on the left and a large blue star on the right"
HUGE = "a red circle " * 2000  # 26,000 characters


def _assert_clean(message: str, *needles: str) -> None:
    """One line, no traceback, no absolute server path, and every needle named."""
    assert message and "\n" not in message and "Traceback" not in message
    for root in ("/work", "/root", "/tmp", "/etc", "/home", str(Path.home())):
        assert root not in message, message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)


def _refused(call, *needles: str) -> str:
    with pytest.raises(ValueError) as info:
        call()
    _assert_clean(str(info.value), *needles)
    return str(info.value)


# ------------------------------------------------------------------------------------- shared helpers


@pytest.mark.parametrize(
    "value, needle",
    [(-1, "1..100"), (0, "1..100"), (999, "1..100"), (1000, "1..100"), (2.5, "whole"), (math.nan, "finite"),
     (math.inf, "finite"), (None, "number"), ("ten", "number"), (True, "number")],
)  # fmt: skip
def test_integer_bounds(value, needle):
    from apps.limits import integer

    _refused(lambda: integer("steps", value, 1, 100), "steps", needle)


def test_bounds_accept_what_lies_inside():
    from apps.limits import SEED_MAX, choice, integer, number, seed, text

    assert integer("steps", 25.0, 1, 100) == 25 and seed(SEED_MAX) == SEED_MAX
    assert number("strength", 1, 0, 1, low_open=True) == 1.0
    assert text("prompt", "  a circle ", 20) == "a circle" and choice("m", "a", ["a", "b"]) == "a"
    _refused(lambda: number("strength", 0, 0, 1, low_open=True), "strength", "(0, 1]")
    _refused(lambda: seed(-1), "seed")
    _refused(lambda: text("prompt", 12, 20), "prompt", "text")


def test_public_message_scrubs_paths_and_lines():
    from apps.limits import public_message

    shown = public_message("cannot read /srv/private/x.bin\nsee '~/secret/y' or ./rel/z, 1/2 of x0/y0")
    assert shown == "cannot read <path> see '<path>' or <path>, 1/2 of x0/y0"
    assert len(public_message("x" * 1000)) == 300


def test_the_lru_cache_is_bounded_and_builds_each_key_once():
    from apps.cache import LRUCache

    built: list[str] = []
    cache: LRUCache[str, str] = LRUCache(2, "test")
    for key in ["a", "b", "a", "c", "a", "b"]:
        cache.get_or_create(key, lambda k=key: built.append(k) or k.upper())
    assert built == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came
    assert len(cache) == 2 and cache.keys() == ["a", "b"]


def test_cached_models_reads_its_bound(monkeypatch):
    from apps.cache import CACHED_MODELS_ENV, cached_models

    monkeypatch.setenv(CACHED_MODELS_ENV, "3")
    assert cached_models() == 3
    monkeypatch.setenv(CACHED_MODELS_ENV, "many")
    assert cached_models() == 2
    monkeypatch.setenv(CACHED_MODELS_ENV, "100000")
    assert cached_models() == 16


# ------------------------------------------------------------------------------------------- deadline


def _spin(module: torch.nn.Module):
    while True:
        module(torch.zeros(1, 4))


def test_a_long_request_is_stopped_with_a_clear_error_and_the_hook_is_removed(monkeypatch):
    import gradio as gr

    from apps import limits

    monkeypatch.setenv(limits.REQUEST_SECONDS_ENV, "0.3")
    handler = limits.demo_handler(lambda: _spin(torch.nn.Linear(4, 4)))
    start = time.monotonic()
    with pytest.raises(gr.Error) as info:
        handler()
    assert time.monotonic() - start < 5
    _assert_clean(info.value.message, "longer than the demo's limit of 0.3 s")
    assert limits._HOOK["active"] == 0 and limits._HOOK["handle"] is None
    torch.nn.Linear(4, 4)(torch.zeros(1, 4))  # outside a request nothing is checked


def test_a_streaming_handler_is_stopped_too(monkeypatch):
    import gradio as gr

    from apps import limits

    monkeypatch.setenv(limits.REQUEST_SECONDS_ENV, "0.3")

    def stream():
        module = torch.nn.Linear(4, 4)
        while True:
            module(torch.zeros(1, 4))
            yield "step"

    with pytest.raises(gr.Error, match="longer than the demo's limit"):
        for _ in limits.demo_handler(stream)():
            pass


@pytest.mark.parametrize("raw", ["", "abc", "-3", "0", "nan", "inf"])
def test_a_bad_request_limit_falls_back_to_the_default(monkeypatch, raw):
    from apps import limits

    monkeypatch.setenv(limits.REQUEST_SECONDS_ENV, raw)
    assert limits.request_seconds() == limits.DEFAULT_REQUEST_SECONDS


def test_unexpected_failures_reach_clients_as_one_generic_line():
    import gradio as gr

    from apps.limits import demo_handler

    def fail():
        raise RuntimeError("internal failure reading /srv/private/key.bin\nmore")

    def refuse():
        raise FileNotFoundError("no such file: /srv/private/model/config.json")

    with pytest.raises(gr.Error) as info:
        demo_handler(fail)()
    _assert_clean(info.value.message, "RuntimeError", "server log")
    assert "/srv" not in info.value.message
    with pytest.raises(gr.Error) as info:
        demo_handler(refuse)()
    assert info.value.message == "no such file: <path>"


# ------------------------------------------------------------------------------------------ model box


@pytest.fixture
def models_root(tmp_path, monkeypatch):
    """A models root with folder ``x``, a symlink ``link -> x``, one ``escape -> outside``, and a folder
    outside the root."""
    from apps.models import MODELS_ROOT_ENV

    root = tmp_path / "models"
    (root / "x").mkdir(parents=True)
    (root / "link").symlink_to(root / "x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "file.txt").write_text("not a folder")
    monkeypatch.setenv(MODELS_ROOT_ENV, str(root))
    return root


def _spellings(root: Path) -> list[str]:
    return ["./x", "x/", "x/../x", str(root / "x"), "link"]


def test_five_spellings_of_one_folder_resolve_to_one_key(models_root):
    from apps.models import resolve_demo_model

    keys = {resolve_demo_model(s) for s in _spellings(models_root)}
    assert keys == {str((models_root / "x").resolve())}
    assert resolve_demo_model("toy") == "toy" and resolve_demo_model("dummy") == "dummy"


def test_five_spellings_load_one_copy_in_the_watermark_demo(models_root, monkeypatch):
    from apps import watermark_demo
    from attacks.watermarks.bench import models

    loads: list[str] = []
    monkeypatch.setattr(models, "load_bench_models", lambda name, *a, **k: loads.append(name) or object())
    monkeypatch.setattr(watermark_demo, "_MODELS", type(watermark_demo._MODELS)(2))
    copies = {id(watermark_demo._models(watermark_demo._model(s))) for s in _spellings(models_root)}
    assert len(copies) == 1 and loads == [str((models_root / "x").resolve())]


def test_five_spellings_load_one_copy_in_the_layout_and_multiconcept_demos(models_root, monkeypatch):
    from apps import layout_demo, multiconcept_demo

    class Pipe:
        scheduler = type("S", (), {"config": {}})()

        def set_progress_bar_config(self, **kw):
            pass

    loads: list[str] = []
    monkeypatch.setattr("diffusers.DDIMScheduler.from_config", lambda config: None)
    for demo in (layout_demo, multiconcept_demo):
        monkeypatch.setattr(demo, "build_sd_pipeline", lambda name, rt: loads.append(name) or (Pipe(), name))
        monkeypatch.setattr(demo, "_PIPES", type(demo._PIPES)(2))
        assert len({id(demo._pipeline(s)[0]) for s in _spellings(models_root)}) == 1
    assert loads == [str((models_root / "x").resolve())] * 2


def test_the_model_caches_keep_at_most_their_bound(models_root, monkeypatch):
    from apps import watermark_demo
    from apps.cache import CACHED_MODELS_ENV
    from attacks.watermarks.bench import models

    for name in ("a", "b", "c"):
        (models_root / name).mkdir()
    monkeypatch.setenv(CACHED_MODELS_ENV, "2")
    loads: list[str] = []
    monkeypatch.setattr(models, "load_bench_models", lambda name, *a, **k: loads.append(name) or object())
    monkeypatch.setattr(watermark_demo, "_MODELS", type(watermark_demo._MODELS)(watermark_demo.cached_models))
    for name in ("a", "b", "a", "c", "./a", "dummy"):
        watermark_demo._models(watermark_demo._model(name))
    assert [Path(n).name for n in loads] == ["a", "b", "c", "dummy"]  # b, then c, were least recently used
    assert len(watermark_demo._MODELS) == 2


@pytest.mark.parametrize(
    "typed, needle",
    [
        ("../outside", "outside the demo's models root"),
        ("escape", "outside the demo's models root"),
        ("x/../../outside", "outside the demo's models root"),
        ("/etc", "outside the demo's models root"),
        ("~", "outside the demo's models root"),
        ("missing", "not a folder"),
        ("file.txt", "not a folder"),
        ("owner/model", "not a folder"),
        ("", "choose a model"),
        ("m" * 300, "at most 256"),
        ("x\x00y", "no folder"),
    ],
)
def test_model_boxes_refuse_what_lies_outside_the_root(models_root, typed, needle):
    from apps.models import resolve_demo_model

    _refused(lambda: resolve_demo_model(typed), needle)


@pytest.mark.parametrize("typed", ["/etc", "x", "../x", "owner/model", "https://example.org/m"])
def test_without_a_models_root_only_named_models_load(monkeypatch, typed):
    from apps.models import MODELS_ROOT_ENV, resolve_demo_model

    monkeypatch.delenv(MODELS_ROOT_ENV, raising=False)
    _refused(lambda: resolve_demo_model(typed), "is not one of", "dummy", "toy")


# ---------------------------------------------------------------------------------- watermark handlers

_IMAGE = np.zeros((64, 64, 3), np.uint8)


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"steps": -1}, ["steps", "1..100"]),
        ({"steps": 0}, ["steps", "1..100"]),
        ({"steps": 999}, ["steps", "1..100"]),
        ({"steps": 1000}, ["steps", "1..100"]),
        ({"steps": math.nan}, ["steps", "finite"]),
        ({"strength": 0}, ["strength 0", "unattacked"]),
        ({"strength": -0.1}, ["strength"]),
        ({"strength": math.inf}, ["strength", "finite"]),
        ({"attack": "paraphrase", "strength": 0.05, "steps": 10}, ["no denoising step"]),
        ({"guidance_scale": 50}, ["guidance"]),
        ({"seed": -1}, ["seed"]),
        ({"seed": 2**31}, ["seed"]),
        ({"prompt": HUGE}, ["prompt", "at most 500"]),
        ({"caption": HUGE}, ["caption", "at most 500"]),
        ({"payload": "1" * 1000}, ["payload", "at most 256"]),
        ({"watermark": "stegastamp"}, ["unknown watermark"]),
        ({"attack": "rm -rf"}, ["unknown attack"]),
        ({"model": "/etc"}, ["model", "is not one of"]),
        ({"model": "../../../../root"}, ["model", "is not one of"]),
    ],
)
def test_watermark_run_refuses(kwargs, needles):
    from apps import watermark_demo

    args = {
        "image": _IMAGE,
        "prompt": "",
        "watermark": "dwtDct",
        "attack": "blur",
        "model": "dummy",
        **kwargs,
    }
    _refused(lambda: watermark_demo.run_pipeline(**args), *needles)


@pytest.mark.parametrize(
    "args, needle",
    [(("", "dummy", 0), "type a prompt"), ((HUGE, "dummy", 0), "at most 500"), (("a", "dummy", -3), "seed"),
     (("a", "/", 0), "is not one of")],
)  # fmt: skip
def test_watermark_generate_refuses(args, needle):
    from apps import watermark_demo

    _refused(lambda: watermark_demo.generate_image(*args), needle)


# ------------------------------------------------------------------------------------- layout handlers


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"steps": 0}, ["steps", "1..100"]),
        ({"steps": 1000}, ["steps", "1..100"]),
        ({"guidance": -1}, ["guidance"]),
        ({"guidance": math.nan}, ["guidance", "finite"]),
        ({"seed": 2**40}, ["seed"]),
        ({"prompt": HUGE}, ["prompt", "at most 500"]),
        ({"method": "dall-e"}, ["unknown method"]),
        ({"model": "/etc/passwd"}, ["model", "is not one of"]),
        ({"rows": [["a large red circle", "nan", 0, 0.5, 0.5]]}, ["finite"]),
        ({"rows": [["a large red circle", 0, 0, 0.5, 0.5]] * 40}, ["40 rows", "at most 32"]),
        ({"rows": [["x" * 500, 0, 0, 0.5, 0.5]]}, ["phrase", "at most 100"]),
    ],
)
def test_layout_generate_refuses(kwargs, needles):
    from apps import layout_demo

    args = {"model": "dummy", "prompt": PROMPT, "rows": layout_demo.plan_rows(PROMPT), **kwargs}
    _refused(lambda: layout_demo.generate_layout(**args), *needles)


@pytest.mark.parametrize(
    "kwargs, needles",
    [({"steps": -1}, ["steps"]), ({"taglines": "x\n" * 10}, ["10 taglines"]), ({"taglines": HUGE}, ["taglines"]),
     ({"prompt": HUGE}, ["background prompt"]), ({"model": "../x"}, ["is not one of"])],
)  # fmt: skip
def test_layout_poster_refuses(kwargs, needles):
    from PIL import Image

    from apps import layout_demo

    args = {
        "model": "dummy",
        "product": Image.new("RGBA", (16, 16)),
        "prompt": "a blue sky",
        "taglines": "Sale",
        **kwargs,
    }
    _refused(lambda: layout_demo.make_poster(**args), *needles)


def test_layout_plan_and_drawing_refuse():
    from apps import layout_demo

    _refused(lambda: layout_demo.plan_rows(HUGE), "prompt", "at most 500")
    layers = [np.zeros((8, 8, 4), np.uint8)] * 20
    _refused(lambda: layout_demo.boxes_from_drawing({"layers": layers}, []), "20 drawn layers")
    _refused(lambda: layout_demo.boxes_from_drawing("not a drawing", []), "image-editor value")


# ------------------------------------------------------------------------------- multiconcept handlers


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"steps": 0}, ["steps"]),
        ({"steps": 10_000}, ["steps"]),
        ({"guidance": 100}, ["guidance"]),
        ({"mask_weight": -1}, ["mask weight"]),
        ({"style_fidelity": 2}, ["style fidelity"]),
        ({"n_images": 50}, ["images", "1..4"]),
        ({"seed": -7}, ["seed"]),
        ({"prompt": HUGE}, ["target prompt", "at most 500"]),
        ({"model": "/root"}, ["model", "is not one of"]),
        ({"slots": [(None, "")] * 5}, ["5 concept slots"]),
        ({"slots": [(None, HUGE)]}, ["concept 1 prompt", "at most 200"]),
    ],
)
def test_multiconcept_compose_refuses(kwargs, needles):
    from apps import multiconcept_demo

    circle, name = multiconcept_demo.pick_toy_concept("a large red circle", 32)
    args = {"model": "dummy", "prompt": PROMPT, "slots": [(circle, name)], "steps": 2, **kwargs}
    _refused(lambda: multiconcept_demo.compose(**args), *needles)


def test_multiconcept_pick_and_auto_mask_refuse():
    from apps import multiconcept_demo

    _refused(lambda: multiconcept_demo.pick_toy_concept("/etc/passwd"), "unknown toy concept")
    _refused(lambda: multiconcept_demo.auto_mask(None, HUGE), "concept prompt", "at most 200")


# ---------------------------------------------------------------------------------- retrieval handlers


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"k": 0}, ["neighbours k", "1..8"]),
        ({"k": 100}, ["neighbours k"]),
        ({"steps": 0}, ["steps"]),
        ({"steps": 999}, ["steps"]),
        ({"ratio": 1.5}, ["ratio"]),
        ({"guidance_scale": math.inf}, ["guidance", "finite"]),
        ({"seed": 2**31}, ["seed"]),
        ({"mode": "steal"}, ["unknown conditioning"]),
        ({"scheme": "triple"}, ["unknown guidance scheme"]),
        ({"prompt": HUGE}, ["prompt", "at most 500"]),
        ({"prompt": "  "}, ["write a prompt"]),
    ],
)
def test_retrieval_generate_refuses(kwargs, needles):
    from apps import retrieval_demo

    args = {"prompt": "a zorvik emblem", "models": {"unused": True}, **kwargs}
    _refused(lambda: retrieval_demo.generate(**args), *needles)


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"sd": "/etc"}, "is not one of"), ({"clip": "../clip"}, "is not one of"), ({"views_per_entity": 10**6}, "views")],
)  # fmt: skip
def test_retrieval_models_refuse(kwargs, needle):
    from apps import retrieval_demo

    _refused(lambda: retrieval_demo.load_models(**kwargs), needle)


# ------------------------------------------------------------------------------- masterprints handlers


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"evaluations": 0}, ["budget", "1..200000"]),
        ({"evaluations": 10**9}, ["budget"]),
        ({"seconds": 0}, ["time limit"]),
        ({"seconds": math.inf}, ["time limit", "finite"]),
        ({"lr": 0}, ["learning rate", "(0, 1]"]),
        ({"lr": -1}, ["learning rate"]),
        ({"popsize": 1}, ["population", "2..256"]),
        ({"popsize": 10**6}, ["population"]),
        ({"seed": -1}, ["seed"]),
        ({"optimizer": "sgd; rm"}, ["unknown optimiser"]),
        ({"space": "ram"}, ["unknown search space"]),
        ({"preset": "/etc/passwd"}, ["unknown preset"]),
        ({"model": "/etc"}, ["model", "is not one of"]),
        ({"vae": "../../x"}, ["model", "is not one of"]),
        ({"prompts_text": "x" * 5000}, ["at most 200 per line"]),
        ({"prompts_text": "a\n" * 2000}, ["2000 prompts", "limit of 1024"]),
    ],
)
def test_masterprints_request_refuses(kwargs, needles):
    from apps.masterprints_demo import CUSTOM, MiningRequest

    base = {"prompts_text": "a red circle", "preset": CUSTOM, "model": "dummy", "vae": "dummy"}
    _refused(lambda: MiningRequest(**{**base, **kwargs}).to_attack(), *needles)


@pytest.mark.parametrize("key", ["../../../../tmp/x", "/etc", "ABCDEF012345", "0" * 13, 12, None])
def test_masterprints_job_keys_are_the_demos_own(key):
    from apps.masterprints_demo import job_for

    new, job = job_for(key)
    assert new != key and len(new) == 12 and job.folder.name == new
