"""``workbench score``: pairing, JSON / CSV output, clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from metrics import load_image
from metrics.functional import peak_signal_noise_ratio, structural_similarity
from metrics.perceptual import LPIPS_BACKBONE_ENV, AlexNetFeatures


def _save(path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path)


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir()
    ref.mkdir()
    for i in range(3):
        base = rng.integers(0, 256, (8, 8, 3)).repeat(4, 0).repeat(4, 1).astype(np.uint8)  # 32x32 blocks
        noisy = np.clip(base.astype(int) + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
        _save(ref / f"{i:03d}.png", base)
        _save(pred / f"{i:03d}.png", noisy)
    return pred, ref


def _run(argv, capsys):
    from workbench.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_json_and_csv(folders, tmp_path, capsys):
    pred, ref = folders
    code, out, err = _run(
        [
            "score",
            "--pred",
            str(pred),
            "--ref",
            str(ref),
            "--metrics",
            "ssim,psnr,mse",
            "--json",
            "--csv",
            str(tmp_path / "s.csv"),
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out)
    assert set(result["per_image"]) == {"000.png", "001.png", "002.png"}
    for name, values in result["per_image"].items():
        p, r = load_image(pred / name)[None], load_image(ref / name)[None]
        assert abs(values["ssim"] - structural_similarity(p, r).item()) < 1e-9
        assert abs(values["psnr"] - peak_signal_noise_ratio(p, r).item()) < 1e-9
    ssims = [v["ssim"] for v in result["per_image"].values()]
    assert abs(result["aggregate"]["ssim"] - np.mean(ssims)) < 1e-12
    assert result["details"]["ssim"]["sigma"] == 1.5
    assert (
        result["intervals"]["psnr"]["low"]
        <= result["aggregate"]["psnr"]
        <= result["intervals"]["psnr"]["high"]
    )
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["file"] for r in rows] == ["000.png", "001.png", "002.png", "(aggregate)"]
    assert abs(float(rows[-1]["ssim"]) - result["aggregate"]["ssim"]) < 1e-9


def test_score_lpips_clip_and_fd(folders, tmp_path, tiny_clip_dir, capsys, monkeypatch):
    pred, ref = folders
    torch.save(AlexNetFeatures().state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv(LPIPS_BACKBONE_ENV, str(tmp_path))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps({"000.png": "a red circle", "001": "a blue square", "002.png": "two stars"})
    )
    code, out, err = _run(
        ["score", "--pred", str(pred), "--ref", str(ref), "--prompts", str(prompts), "--metrics", "lpips,clip_t,clip_i,fd",
         "--clip", str(tiny_clip_dir), "--json", "--device", "cpu"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert set(result["aggregate"]) == {"lpips", "clip_t", "clip_i", "fd"}
    assert all(set(v) == {"lpips", "clip_t", "clip_i"} for v in result["per_image"].values())
    assert result["details"]["fd"]["feature_extractor"].startswith("CLIP image embedding")
    assert result["details"]["fd"]["n_real"] == 3 and "warning" in result["details"]["fd"]
    assert result["details"]["clip_t"]["truncated_captions"] == 0
    assert result["details"]["lpips"]["backbone_weights"].endswith("alexnet-owt-7be5be79.pth")


def test_score_errors_are_clear(folders, tmp_path, capsys):
    pred, ref = folders
    (ref / "002.png").unlink()
    code, _, err = _run(["score", "--pred", str(pred), "--ref", str(ref), "--metrics", "ssim"], capsys)
    assert code == 2 and "unpaired" in err and "002.png" in err

    _save(ref / "002.png", np.zeros((16, 16, 3), dtype=np.uint8))
    code, _, err = _run(["score", "--pred", str(pred), "--ref", str(ref), "--metrics", "psnr"], capsys)
    assert code == 2 and "mismatched sizes" in err and "002.png" in err

    (pred / "001.png").write_bytes(b"garbage")
    code, _, err = _run(["score", "--pred", str(pred), "--ref", str(ref), "--metrics", "psnr"], capsys)
    assert code == 2 and "001.png" in err and "cannot read image" in err

    code, _, err = _run(["score", "--pred", str(pred), "--metrics", "ssim"], capsys)
    assert code == 2 and "--ref" in err
    code, _, err = _run(["score", "--pred", str(pred), "--metrics", "clip_t"], capsys)
    assert code == 2 and "--prompts" in err
    code, _, err = _run(["score", "--pred", str(pred), "--ref", str(ref), "--metrics", "ssim,nope"], capsys)
    assert code == 2 and "unknown metric" in err and "psnr" in err


def test_score_standalone_entry_point_text_output(folders, capsys):
    from metrics.cli import main

    pred, ref = folders
    assert (
        main(
            [
                "score",
                "--pred",
                str(pred),
                "--ref",
                str(ref),
                "--metrics",
                "psnr",
                "--bootstrap",
                "0",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 images" in out and "psnr" in out
