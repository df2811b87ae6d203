"""The demos read only what their clients uploaded: every file-naming payload an attacker can post to a
running demo (loopback only) is refused before Gradio reads it, nothing outside the upload folder is
copied or served, and errors shown to clients never name a server path."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

SECRET = "workbench-guard-secret-line"


def _image_demo():
    import gradio as gr

    def shape(image):
        if image is None:
            raise gr.Error("upload an image")
        return str(tuple(image.shape))

    def fail(text):
        raise RuntimeError(f"internal failure reading /srv/private/{text}.bin")

    with gr.Blocks() as demo:
        image = gr.Image(type="numpy")
        editor = gr.ImageEditor(type="numpy")
        out = gr.Textbox()
        text = gr.Textbox()
        number = gr.Number(value=1)
        gr.Button().click(shape, image, out, api_name="shape")
        gr.Button().click(lambda e: str(type(e)), editor, out, api_name="editor")
        gr.Button().click(lambda n: str(n), number, out, api_name="number")
        gr.Button().click(fail, text, out, api_name="fail")
    return demo


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from apps import DemoSpec
    from apps.guard import upload_folder
    from apps.hub import build_app, start_server

    app = build_app(specs=[DemoSpec("img", "Img", "shape of an image", _image_demo)])
    url, stop = start_server(app)
    secret = tmp_path_factory.mktemp("host") / "secret.txt"
    secret.write_text(SECRET)
    try:
        yield url + "demos/img/gradio_api", secret, upload_folder()
    finally:
        stop()


def _call(base: str, api: str, data: list, timeout: float = 20.0) -> tuple[int, str]:
    """POST to ``/call/<api>``; returns (status, the event stream or the refusal)."""
    r = httpx.post(f"{base}/call/{api}", json={"data": data}, timeout=timeout)
    if r.status_code != 200:
        return r.status_code, r.text
    event = r.json()["event_id"]
    return 200, httpx.get(f"{base}/call/{api}/{event}", timeout=timeout).text


def _listing(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")} if folder.exists() else set()


def _file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _payloads(secret: Path, upload: Path) -> dict[str, list]:
    upload.mkdir(parents=True, exist_ok=True)
    link = upload / "guard-link.png"
    if not link.is_symlink():
        link.symlink_to(secret)
    zero_link = upload / "guard-zero.png"
    if not zero_link.is_symlink():
        zero_link.symlink_to("/dev/zero")
    folder = upload / "guard-folder"
    folder.mkdir(exist_ok=True)
    return {
        "filedata-host-file": [_file_data(str(secret))],
        "filedata-passwd": [_file_data("/etc/passwd")],
        "bare-path": [{"path": str(secret)}],
        "zero-device": [_file_data("/dev/zero")],
        "traversal": [_file_data(str(upload) + "/../../../../../../" + str(secret).lstrip("/"))],
        "relative": [_file_data("../../../../../../etc/passwd")],
        "symlink-in-upload-folder": [_file_data(str(link))],
        "symlink-to-zero-device": [_file_data(str(zero_link))],
        "folder-in-upload-folder": [_file_data(str(folder))],
        "http-url": [_file_data("http://127.0.0.1:9/x.png")],
        "file-url": [_file_data("file://" + str(secret))],
        "proc": [_file_data("/proc/self/environ")],
        "with-orig-name": [{**_file_data(str(secret)), "orig_name": "a.png", "url": "http://x/file=a.png"}],
        "nested-deep": [{"a": [{"b": {"path": str(secret)}}]}],
    }


@pytest.mark.parametrize(
    "case",
    [
        "filedata-host-file", "filedata-passwd", "bare-path", "zero-device", "traversal", "relative",
        "symlink-in-upload-folder", "symlink-to-zero-device", "folder-in-upload-folder", "http-url",
        "file-url", "proc", "with-orig-name", "nested-deep",
    ],
)  # fmt: skip
def test_file_payloads_outside_the_upload_folder_are_refused_unread(server, case):
    base, secret, upload = server
    data = _payloads(secret, upload)[case]
    before = _listing(upload)
    start = time.monotonic()
    status, text = _call(base, "shape", data, timeout=10)
    assert time.monotonic() - start < 5  # the zero device is never read
    assert status == 400, text
    assert "not uploaded through this demo" in text
    assert SECRET not in text and str(secret) not in text and "/dev/zero" not in text
    assert "\n" not in httpx.post(f"{base}/call/shape", json={"data": data}).json()["detail"]
    assert _listing(upload) == before  # nothing was copied into Gradio's cache


def test_editor_payload_layers_are_checked_too(server):
    base, secret, _ = server
    value = {"background": _file_data(str(secret)), "layers": [], "composite": None}
    status, text = _call(base, "editor", [value])
    assert status == 400 and "not uploaded" in text


def test_the_queue_endpoint_is_guarded_like_the_call_endpoint(server):
    base, secret, _ = server
    r = httpx.post(
        f"{base}/queue/join",
        json={"data": [_file_data(str(secret))], "fn_index": 0, "session_hash": "guard", "trigger_id": None},
        timeout=10,
    )
    assert r.status_code == 400 and "not uploaded" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/etc/passwd", "SECRET", "/proc/self/environ"])
def test_the_file_route_serves_no_host_file(server, path):
    base, secret, _ = server
    path = str(secret) if path == "SECRET" else path
    r = httpx.get(f"{base}/file={path}", timeout=10)
    assert r.status_code in (403, 404)
    assert SECRET not in r.text and "root:" not in r.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(server, constant):
    base, _, _ = server
    r = httpx.post(
        f"{base}/call/number",
        content=f'{{"data": [{constant}]}}',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400 and "non-finite" in r.json()["detail"]


def test_an_uploaded_image_is_accepted_and_its_cached_output_can_come_back(server, tmp_path):
    import numpy as np
    from PIL import Image

    base, _, upload = server
    source = tmp_path / "up.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(source)
    with source.open("rb") as f:
        r = httpx.post(f"{base}/upload", files={"files": ("up.png", f, "image/png")}, timeout=10)
    assert r.status_code == 200, r.text
    (uploaded,) = r.json()
    assert Path(uploaded).resolve().is_relative_to(upload)
    status, text = _call(base, "shape", [_file_data(uploaded)])
    assert status == 200 and "(20, 30, 3)" in text


def test_errors_shown_to_clients_name_no_server_path(server):
    base, _, _ = server
    status, text = _call(base, "fail", ["x"])
    assert status == 200 and "event: error" in text
    assert "/srv/private" not in text and "Traceback" not in text


def test_an_oversized_json_body_is_refused(server):
    from apps.guard import MAX_JSON_BYTES

    base, _, _ = server
    r = httpx.post(
        f"{base}/call/number",
        content=b'{"data": ["' + b"x" * (MAX_JSON_BYTES + 10) + b'"]}',
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400 and "larger than" in r.json()["detail"]


def test_refusal_unit_cases(tmp_path):
    from apps.guard import refusal

    root = tmp_path / "up"
    root.mkdir()
    good = root / "a.png"
    good.write_bytes(b"x")
    assert refusal(b'{"data": [{"path": "%s"}]}' % str(good).encode(), root) is None
    assert refusal(b'{"data": [1, "text", {"a": 2}]}', root) is None
    assert refusal(b"not json", root) is None
    assert refusal(b'{"data": [NaN]}', root) is not None
    assert refusal(b'{"data": [{"path": "%s"}]}' % str(root).encode(), root) is not None
    assert math.isfinite(1.0)
    assert os.path.exists(good)


def test_every_registered_demo_is_served_behind_the_guard(tmp_path):
    """The real hub (every registered demo) refuses a host file posted to each demo's endpoints."""
    from apps import DEMOS, load_demo_modules
    from apps.hub import build_app, start_server

    load_demo_modules()
    names = DEMOS.names()
    assert len(names) >= 5
    secret = tmp_path / "s.txt"
    secret.write_text(SECRET)
    url, stop = start_server(build_app())
    try:
        for name in names:
            base = f"{url}demos/{name}/gradio_api"
            config = httpx.get(f"{url}demos/{name}/config", timeout=30).json()
            files = {
                c["id"] for c in config["components"] if c.get("type") in ("image", "imageeditor", "file")
            }
            checked = 0
            for index, dep in enumerate(config["dependencies"]):
                inputs = dep.get("inputs", [])
                if not any(i in files for i in inputs):
                    continue
                data = [_file_data(str(secret)) if i in files else None for i in inputs]
                r = httpx.post(
                    f"{base}/queue/join",
                    json={"data": data, "fn_index": index, "session_hash": "g", "trigger_id": None},
                    timeout=10,
                )
                assert r.status_code == 400, (name, index, r.text)
                checked += 1
            if name in ("watermarks", "layout", "multiconcept"):
                assert checked, f"demo {name} has no endpoint with a file input"
    finally:
        stop()


@pytest.mark.parametrize(
    "content",
    [b"just some text, not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b""],
    ids=["text", "truncated", "empty"],
)
def test_an_upload_that_is_no_image_is_refused_in_one_line(server, tmp_path, content):
    base, _, _ = server
    fake = tmp_path / "fake.png"
    fake.write_bytes(content)
    with fake.open("rb") as f:
        r = httpx.post(f"{base}/upload", files={"files": ("fake.png", f, "image/png")}, timeout=10)
    if r.status_code != 200:  # refused at upload: fine as long as it is a clean refusal
        assert "Traceback" not in r.text
        return
    (uploaded,) = r.json()
    status, text = _call(base, "shape", [_file_data(uploaded)])
    assert status == 200 and "event: error" in text
    assert (
        "not an image this demo can read" in text
        and "Traceback" not in text
        and "/" not in text.split("error", 2)[-1][:0]
    )
