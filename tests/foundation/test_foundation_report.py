"""Reports: sections saved and rebuilt, self-contained HTML."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from workbench.report import Report, markdown_to_html  # noqa: E402


def make_report() -> Report:
    r = Report("a <test> report")
    r.add_text("# Heading\nsome **bold** and `code`\n\n- one\n- two")
    r.add_table("table", [{"a": 1, "b": 0.123456}, {"a": 2, "c": "x<y"}], caption="cap")
    r.add_images("grid", torch.rand(3, 3, 8, 8), captions=["p0", "p1", "p2"], ncols=2)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    r.add_figure("fig", fig)
    plt.close(fig)
    r.add_metrics({"clip": {"score": 0.25}})
    return r


def test_html_is_self_contained_and_escaped():
    page = make_report().to_html()
    assert page.count("<img") == 4
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r"src='([^']*)'", page))
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "<script" not in page and "<link" not in page
    assert "a &lt;test&gt; report" in page and "x&lt;y" in page
    assert "clip.score" in page and "0.1235" in page
    assert "<strong>bold</strong>" in page and "<li>two</li>" in page


def test_sections_save_and_rebuild_identically(tmp_path):
    r = make_report()
    r.save(tmp_path / "rep")
    again = Report.load(tmp_path / "rep")
    assert again.to_html() == r.to_html()
    assert len(list((tmp_path / "rep" / "assets").glob("*.png"))) == 4
    path = again.write(tmp_path / "report.html")
    assert path.read_text().startswith("<!DOCTYPE html>")


def test_markdown_subset():
    assert markdown_to_html("<b>raw</b>") == "<b>raw</b>"
    out = markdown_to_html("```\na < b\n```\n[link](http://x.org)")
    assert "<pre>" in out and "a &lt; b" in out and "<a href='http://x.org'>link</a>" in out
