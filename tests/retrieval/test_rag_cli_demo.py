"""`workbench kb build|add|search` (through the plugin's register function) and the Gradio demo's handler."""

from __future__ import annotations

import argparse
import json

import pytest

from generators.retrieval.cli import register
from workbench.dummy import save_dummy_clip


def _run(argv):
    parser = argparse.ArgumentParser(prog="workbench")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return str(save_dummy_clip(tmp_path_factory.mktemp("clip")))


def test_kb_build_add_search(tmp_path, clip_dir, capsys):
    kb_dir = str(tmp_path / "kb")
    common = ["--clip", clip_dir, "--device", "cpu"]
    assert _run(["kb", "build", kb_dir, "--toy-entities", "--views", "1", "--chunk-size", "8", *common]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["entries"] == 32 and built["clip"] == clip_dir
    table = tmp_path / "pairs.csv"
    from toyworld.world import ShapesWorld
    from workbench.io import save_image

    save_image(tmp_path / "a.png", ShapesWorld(64).batch(0, "val", 0, 1).images[0])
    table.write_text("image,text,bucket\na.png,a custom scene,custom\n")
    assert _run(["kb", "add", kb_dir, "--from-table", str(table), *common]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added == {"added": 1, "skipped_exact": 0, "skipped_near": 0, "entries": 33}
    assert (
        _run(["kb", "search", kb_dir, "a custom scene", "-k", "3", "--target", "text", "--json", *common])
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert (
        len(hits) == 3
        and hits[0]["text"] == "a custom scene"
        and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    )
    assert (
        _run(
            [
                "kb",
                "search",
                kb_dir,
                "a zorvik emblem",
                "--filter",
                "bucket=[rare, unseen]",
                "-k",
                "40",
                "--index",
                "flat",
                *common,
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 16 and all("bucket=rare" in line or "bucket=unseen" in line for line in lines)


def test_kb_refuses_another_clip(tmp_path, clip_dir, capsys):
    kb_dir = str(tmp_path / "kb")
    _run(["kb", "build", kb_dir, "--toy-entities", "--views", "1", "--clip", clip_dir, "--device", "cpu"])
    capsys.readouterr()
    # 'dummy' is the same random-weight CLIP as the saved one (seed 0): accepted
    assert _run(["kb", "search", kb_dir, "a zorvik emblem", "--clip", "dummy", "--device", "cpu"]) == 0
    other = str(save_dummy_clip(tmp_path / "other", seed=1))
    capsys.readouterr()
    assert _run(["kb", "search", kb_dir, "a zorvik emblem", "--clip", other, "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "error: knowledge base" in err and "rebuild it with this CLIP" in err
    assert (
        _run(["kb", "add", kb_dir, "--toy-entities", "--views", "2", "--clip", other, "--device", "cpu"]) == 1
    )
    assert _run(["kb", "search", str(tmp_path / "nothing"), "x", "--clip", other, "--device", "cpu"]) == 1
    assert "is not a knowledge base" in capsys.readouterr().err


def test_demo_handler(kb, embedder, sd_pipe):
    from apps.retrieval_demo import build, generate
    from generators.retrieval import RetrievalAugmentedPipeline
    from workbench.runtime import Runtime

    pipe = RetrievalAugmentedPipeline.from_pipe(sd_pipe)
    pipe.set_progress_bar_config(disable=True)
    models = {
        "pipe": pipe,
        "kb": kb,
        "runtime": Runtime(seed=0, device="cpu"),
        "sources": {"sd": "dummy", "clip": "dummy"},
    }
    gallery, without, with_ret, info = generate(
        "a xandro emblem on the right", k=3, mode="reference", scheme="interleaved", steps=2, models=models
    )
    assert len(gallery) == 3 and all(caption.split()[1] == "a" for _, caption in gallery)
    # the default four seeds a side, side by side, shown at 256 px high (the 32 px images upscaled 8 times)
    assert without.size == with_ret.size == (4 * 256, 256) and without.tobytes() != with_ret.tobytes()
    assert "interleaved" in info and "8 entries" in info
    _, _, blended, info = generate("a xandro emblem on the right", k=3, steps=2, models=models, images=1)
    assert blended.size == (256, 256) and "blend" in info and "single" in info
    with pytest.raises(ValueError, match="write a prompt"):
        generate("  ", models=models)
    assert type(build()).__name__ == "Blocks"
