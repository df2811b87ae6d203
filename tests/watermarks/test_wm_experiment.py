"""The ``watermark_bench`` experiment on random-weight components: robustness.csv, report, resume."""

from __future__ import annotations

import csv

import pytest

from attacks.watermarks.bench.config import WatermarkBenchConfig
from attacks.watermarks.experiment import CSV_FILE, cell_list, run_benchmark
from workbench.config import ConfigError, validate_config

REQUIRED = [
    "watermark",
    "attack",
    "strength",
    "bit_accuracy",
    "tpr_at_1pct_fpr",
    "psnr",
    "ssim",
    "clip_i",
    "judge_preserved",
]


def tiny_config(**overrides):
    data = {
        "experiment": "watermark_bench",
        "model": "dummy",
        "clip": "dummy",
        "judge": None,
        "captioner": "dummy",
        "lpips": False,
        "image_size": 256,
        "generation": {"num_images": 3, "num_inference_steps": 2, "guidance_scale": 3.0},
        "photos": {"names": ["astronaut"], "crops_per_photo": 2},
        "watermarks": ["dwtDctSvd", "gaussian_shading"],
        "watermark_options": {"gaussian_shading": {"hw_factor": 4}},
        "attacks": [
            "jpeg",
            {"name": "paraphrase", "options": {"num_inference_steps": 4}},
            {
                "name": "paraphrase",
                "label": "paraphrase_gt",
                "ground_truth_captions": True,
                "options": {"num_inference_steps": 4},
            },
        ],
        "strengths": [0.5],
        "batch_size": 4,
        "examples": 1,
    }
    data.update(overrides)
    return validate_config(data)


def test_config_validation():
    cfg = tiny_config()
    assert isinstance(cfg, WatermarkBenchConfig)
    assert len(cell_list(cfg)) == 2 * (1 + 3)
    with pytest.raises(ConfigError, match="unknown watermark 'stegastamp'"):
        tiny_config(watermarks=["stegastamp"])
    with pytest.raises(ConfigError, match="unknown attack 'jpg'"):
        tiny_config(attacks=["jpg"])
    with pytest.raises(ConfigError, match=r"strengths must be in \[0, 1\]"):
        tiny_config(strengths=[1.2])
    with pytest.raises(ConfigError, match="labels must be unique"):
        tiny_config(attacks=["jpeg", "jpeg"])


def test_bench_writes_csv_and_resumes_without_recomputing(run_ctx, monkeypatch):
    from attacks.watermarks import experiment

    cfg = tiny_config()
    calls = []
    original = experiment.run_cell

    def counting(*args, **kwargs):
        calls.append((args[2].name, args[5].key if args[5] else "none", args[6]))
        return original(*args, **kwargs)

    monkeypatch.setattr(experiment, "run_cell", counting)
    rows = run_benchmark(run_ctx, cfg)
    assert len(calls) == len(rows) == 8
    with open(run_ctx.dir / CSV_FILE) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 8 and all(
        col in table[0] for col in REQUIRED + ["tpr_at_0.1pct_fpr", "auc", "threshold_at_1pct_fpr", "codec"]
    )
    by = {(r["watermark"], r["attack"]): r for r in table}
    # dwtDctSvd decodes its payload on every un-attacked image (5 images: 3 generated + 2 photo crops)
    assert float(by[("dwtDctSvd", "none")]["bit_accuracy"]) == 1.0
    assert float(by[("dwtDctSvd", "none")]["tpr_at_1pct_fpr"]) == 1.0
    assert (
        by[("dwtDctSvd", "none")]["n_images"] == "5" and by[("gaussian_shading", "none")]["n_images"] == "3"
    )
    assert by[("dwtDctSvd", "jpeg")]["codec"] == "pillow-libjpeg q=55 4:2:0"
    assert float(by[("dwtDctSvd", "paraphrase")]["ssim"]) < 0.99
    assert by[("gaussian_shading", "none")]["psnr"] == "inf"
    # the ground-truth paraphrase used the prompts of the generated images
    _, meta = run_ctx.checkpoint.load("cell/dwtDctSvd/paraphrase_gt/0.5")
    assert meta["captions"][:3] == run_ctx.checkpoint.load("sources")[1]["captions"][:3]

    # a killed sweep: drop two finished cells, resume, only those are recomputed
    for key in ("cell/dwtDctSvd/jpeg/0.5", "cell/gaussian_shading/paraphrase/0.5"):
        run_ctx.checkpoint.path(key).unlink()
    calls.clear()
    rows_again = run_benchmark(run_ctx, cfg)
    assert sorted(calls) == [("dwtDctSvd", "jpeg", 0.5), ("gaussian_shading", "paraphrase", 0.5)]
    assert [r["bit_accuracy"] for r in rows_again] == pytest.approx(
        [r["bit_accuracy"] for r in rows], nan_ok=True
    )
