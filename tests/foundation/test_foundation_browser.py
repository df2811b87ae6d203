"""Headless Chromium (Debian ``chromium`` through Playwright): the demo hub renders and links a demo
that works; a run's report renders its images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}; install it with `make test-setup` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def echo_demo():
    import gradio as gr

    with gr.Blocks() as demo:
        gr.Markdown("Echo demo")
        inp = gr.Textbox(label="text", elem_id="inp")
        out = gr.Textbox(label="reversed", elem_id="out")
        inp.submit(lambda s: s[::-1], inp, out)
    return demo


def test_hub_renders_and_links_a_working_demo(browser):
    from apps import DemoSpec
    from apps.hub import TITLE, build_app, start_server

    app = build_app(specs=[DemoSpec("echo", "Echo", "reverses text", echo_demo)])
    url, stop = start_server(app)
    try:
        page = browser.new_page()
        page.goto(url)
        page.get_by_text(TITLE).first.wait_for(timeout=30_000)
        link = page.get_by_role("link", name="Echo")
        assert link.get_attribute("href") == "demos/echo/"
        link.click()
        page.wait_for_url("**/demos/echo/", timeout=30_000)
        page.locator("#inp textarea").fill("hello")
        page.locator("#inp textarea").press("Enter")
        page.wait_for_function("document.querySelector('#out textarea').value === 'olleh'", timeout=30_000)
        page.close()
    finally:
        stop()


def test_report_opens_with_rendered_images(browser, tmp_path, capsys):
    from .test_foundation_runs import run_cli, smoke_config

    run_dir = run_cli(capsys, str(smoke_config(tmp_path)), "--output-dir", str(tmp_path / "runs"))
    page = browser.new_page()
    page.goto((run_dir / "report.html").as_uri())
    page.get_by_text("Generated images").wait_for(timeout=30_000)
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])"
    )
    assert len(sizes) >= 7
    assert all(complete and natural > 0 and shown > 0 for complete, natural, shown in sizes)
    assert page.locator("table").count() >= 3
    page.close()
