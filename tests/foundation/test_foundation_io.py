"""Atomic writes, image and tensor files, checkpoints, metrics files."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.io import (
    atomic_path,
    atomic_write_text,
    load_image,
    load_tensors,
    remove_stale_temp_files,
    save_image,
    save_tensors,
    sha256_file,
)
from workbench.runs import Checkpoint, MetricsLog, flatten_metrics


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.png.abc.tmp").write_bytes(b"partial")
    (tmp_path / "keep.png").write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert [p.name for p in removed] == [".x.png.abc.tmp"]
    assert (tmp_path / "keep.png").exists()


def test_png_round_trip_is_exact_for_quantised_images(tmp_path):
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 9, 7), generator=g).float() / 255  # (3, H, W) in [0, 1]
    path = save_image(tmp_path / "img", image)
    assert path.suffix == ".png"
    assert torch.equal(load_image(path), image)
    with pytest.raises(ValueError, match="shape"):
        save_image(tmp_path / "bad", torch.rand(2, 3, 4, 4))


def test_tensors_round_trip_and_hash(tmp_path):
    tensors = {"a": torch.arange(6).view(2, 3), "b": torch.rand(4)}
    path = save_tensors(tmp_path / "t", tensors)
    back = load_tensors(path)
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    assert sha256_file(path) == sha256_file(path) and len(sha256_file(path)) == 64
    assert sha256_file(tmp_path) != sha256_file(path)


def test_checkpoint_api(tmp_path):
    ckpt = Checkpoint(tmp_path / "ck")
    assert ckpt.keys() == [] and not ckpt.done("image/1")
    ckpt.save("image/1", {"x": torch.ones(2, 2)}, {"prompt": "a / b", "i": 1})
    ckpt.save("step 2%", None, None)
    assert ckpt.done("image/1") and ckpt.keys() == ["image/1", "step 2%"]
    tensors, meta = ckpt.load("image/1")
    assert torch.equal(tensors["x"], torch.ones(2, 2)) and meta == {"prompt": "a / b", "i": 1}
    assert ckpt.load("step 2%") == ({}, {})
    with pytest.raises(KeyError, match="image/9"):
        ckpt.load("image/9")
    with pytest.raises(ValueError):
        ckpt.save(".hidden", None)
    disabled = Checkpoint(tmp_path / "other", enabled=False)
    disabled.save("k", {"x": torch.zeros(1)})
    assert not disabled.done("k")


def test_metrics_files_flat_and_replayable(tmp_path):
    assert flatten_metrics({"clip": {"score": torch.tensor(0.5)}, "n": 2}) == {"clip.score": 0.5, "n": 2}
    log = MetricsLog(tmp_path)
    log.log({"loss": 1.0}, step=0)
    log.log({"loss": 0.5}, step=1)
    log.log({"final": {"auc": 0.9}})
    first = (tmp_path / "metrics.csv").read_text(), (tmp_path / "metrics.json").read_text()
    # A resumed run that logs the same rows again ends with the same files.
    again = MetricsLog(tmp_path)
    again.reload()
    again.log({"loss": 0.5}, step=1)
    again.log({"final": {"auc": 0.9}})
    assert ((tmp_path / "metrics.csv").read_text(), (tmp_path / "metrics.json").read_text()) == first
    assert json.loads(first[1]) == {"loss": 0.5, "final.auc": 0.9}
    assert first[0].splitlines()[0] == "step,loss,final.auc"
    with pytest.raises(ValueError, match="scalars"):
        log.log({"bad": torch.ones(3)})
