"""The entity-draw-bench experiment end to end on random-weight models (a random-weight judge included),
its report and its resume."""

from __future__ import annotations

import json

import pytest

from generators.retrieval.entitydraw import claims, make_prompts, summarize
from workbench.config import load_config, validate_config
from workbench.runs import resume_run, run_experiment

CONFIG = {
    "experiment": "entity-draw-bench",
    "models": {"sd": "dummy", "clip": "dummy", "conditioned": "auto"},
    "knowledge_base": {"views_per_entity": 2},
    "bench": {"entities_per_bucket": 1, "prompts_per_entity": 1},
    "generation": {"num_inference_steps": 2},
    "retrieval": {"k": 2, "modes": ["reference", "blend"], "blend": {"inversion_steps": 2}},
    "guidance": {"ratio_sweep": [0.0, 1.0]},
}


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    from toyworld.judge import ShapesJudge

    folder = tmp_path_factory.mktemp("judge")
    ShapesJudge(image_size=32, width=16, depth=1).save_pretrained(folder)
    return folder


def test_bench_run_report_and_resume(tmp_path, judge_dir):
    cfg = validate_config(
        {**CONFIG, "output_dir": str(tmp_path), "models": {**CONFIG["models"], "judge": str(judge_dir)}}
    )
    run_dir = run_experiment(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    methods = [
        "none/single",
        "reference/single",
        "reference/interleaved-0.50",
        "reference/interleaved-0.00",
        "reference/interleaved-1.00",
        "blend/single",  # blend runs with single guidance only
    ]
    for method in methods:
        for bucket in ("frequent", "rare", "unseen"):
            assert 0.0 <= metrics[f"{method}.{bucket}.fidelity"] <= 100.0
            assert -1.0 <= metrics[f"{method}.{bucket}.clip_i"] <= 1.0
            assert 0.0 <= metrics[f"{method}.{bucket}.clip_t"] <= 100.0
    assert (
        "none/single.rare.retrieval_hit" not in metrics and "reference/single.rare.retrieval_hit" in metrics
    )
    sections = json.loads((run_dir / "report" / "sections.json").read_text())["sections"]
    titles = [s.get("title") or "" for s in sections]
    assert "Claims: retrieval vs none (points of fidelity)" in titles and "Guidance ratio sweep" in titles
    assert any(s["type"] == "figure" for s in sections)
    assert len(list((run_dir / "outputs" / "images" / "reference_single").glob("*.png"))) == 3
    # a resumed run reuses every checkpointed batch and writes the same numbers
    keys = sorted(p.name for p in (run_dir / "checkpoints").glob("*.safetensors"))
    assert len(keys) == len(methods)
    resume_run(run_dir, force=True)  # a completed run: force its steps to run again
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics


def test_example_configs_validate():
    for name in ("retrieval_entitydrawbench.yaml", "retrieval_smoke.yaml"):
        cfg = load_config(f"examples/{name}")
        assert cfg.experiment == "entity-draw-bench"


def test_summary_and_claims_arithmetic():
    prompts = make_prompts(["frequent", "rare"], 1, 2, seed=0)
    assert len(prompts) == 4 and prompts[0].prompt.startswith("a zorvik emblem")

    def rows(fids):
        return [
            {"index": i, "bucket": p.bucket, "entity": p.entity, "fidelity": f, "clip_i": 0.5, "clip_t": 20.0}
            for i, (p, f) in enumerate(zip(prompts, fids))
        ]

    table = summarize(
        {
            "none/single": rows([1, 1, 0, 0]),
            "reference/single": rows([1, 1, 1, 0]),
            "x/single": rows([1, 0, 1, 1]),
        }
    )
    by = {(r["method"], r["bucket"]): r for r in table}
    assert by[("reference/single", "rare")]["fidelity"] == 50.0 and by[("none/single", "frequent")]["n"] == 2
    checked = {(c["method"], c["bucket"]): c for c in claims(table)}
    assert (
        checked[("reference/single", "rare")]["holds"] and checked[("reference/single", "frequent")]["holds"]
    )
    assert (
        not checked[("x/single", "frequent")]["holds"]
        and checked[("x/single", "rare")]["delta_points"] == 100.0
    )
    # the trained pipeline against itself with retrieval off
    table = summarize(
        {
            "none/single": rows([1, 1, 1, 1]),
            "conditioned/none": rows([1, 1, 0, 0]),
            "conditioned/single": rows([1, 1, 1, 0]),
            "reference/single": rows([1, 1, 1, 1]),
        }
    )
    assert {c["method"] for c in claims(table)} == {
        "conditioned/single",
        "reference/single",
    }  # not the ablation
    own = claims(table, baseline="conditioned/none", prefix="conditioned/")
    assert {(c["method"], c["bucket"]) for c in own} == {
        ("conditioned/single", b) for b in ("frequent", "rare")
    }
    assert all(c["baseline"] == "conditioned/none" for c in own)
    assert {c["bucket"]: c["delta_points"] for c in own}["rare"] == 50.0


def test_bench_with_a_trained_export(tmp_path):
    import torch

    from generators.retrieval import RetrievalAugmentedPipeline, RetrievalConditioner
    from workbench.dummy import dummy_clip, dummy_sd_pipeline

    sd = dummy_sd_pipeline(seed=0)
    torch.manual_seed(0)
    cond = RetrievalConditioner(
        embed_dim=dummy_clip()[0].config.projection_dim, cross_attention_dim=32, num_neighbours=2
    )
    RetrievalAugmentedPipeline.from_pipe(sd, retrieval_conditioner=cond).save_pretrained(tmp_path / "export")
    data = {
        **CONFIG,
        "output_dir": str(tmp_path / "runs"),
        "models": {**CONFIG["models"], "judge": "none", "conditioned": str(tmp_path / "export")},
        "retrieval": {"k": 2, "modes": ["conditioned", "reference"]},
        "guidance": {"ratio_sweep": [0.5]},
        "bench": {**CONFIG["bench"], "buckets": ["unseen"]},
    }
    run_dir = run_experiment(validate_config(data))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {
        "conditioned/single.unseen.clip_t",
        "conditioned/interleaved-0.50.unseen.clip_i",
        "conditioned/none.unseen.clip_t",
        "reference/single.unseen.clip_t",
    } <= set(metrics)
    assert not any(k.endswith(".fidelity") for k in metrics)  # no judge: no fidelity, claims not checked
    report = (run_dir / "report.html").read_text()
    assert "trained retrieval pipeline" in report and "claims (points of fidelity) are not checked" in report
    bad = {**data, "models": {**data["models"], "conditioned": str(tmp_path / "missing")}}
    with pytest.raises(FileNotFoundError, match="no retrieval export"):
        run_experiment(validate_config(bad))
