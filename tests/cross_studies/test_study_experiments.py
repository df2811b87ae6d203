"""Both studies end to end on random-weight models (tiny sizes): the run folder, the report's tables and
plot, the numbers' ranges, the resume, the master images really inserted into a base, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.config import ConfigError, load_config
from workbench.runs import run_experiment

ROOT = Path(__file__).resolve().parents[2]
POISONING = ROOT / "examples" / "study_masterprints_retrieval.yaml"
PURIFICATION = ROOT / "examples" / "study_purification.yaml"

TINY_POISONING = [
    "models.clip=dummy",
    "models.sd=dummy",
    "models.judge=none",
    "runtime.device=cpu",
    "seeds=2",
    "mining.budgets=[0,2]",
    "mining.image_size=32",
    "masters=[1,2]",
    "knowledge_base.views_per_entity=1",
    "knowledge_base.scenes=4",
    "defences.detector_set.images=2",
    "defences.detector_set.steps=1",
    "defences.detector_set.batch=2",
    "defences.real_train=4",
    "defences.real_test=4",
    "defences.detector_model.epochs=5",
    "rag.entities=1",
    "rag.classes=1",
    "rag.num_inference_steps=1",
]
TINY_PURIFICATION = [
    "clip=dummy",
    "runtime.device=cpu",
    "seeds=2",
    "prompts=2",
    "masters=1",
    "mining.budgets=[2]",
    "mining.image_size=32",
    "real_per_prompt=1",
    "transforms=[{attack: jpeg, strengths: [0.5, 1.0]}, {attack: blur, strengths: [1.0]}]",
]


def test_examples_load_with_their_defaults():
    p = load_config(POISONING)
    assert p.seeds == 3 and p.masters == [1, 2, 4] and p.mining.budgets[0] == 0
    q = load_config(PURIFICATION)
    assert q.seeds == 3 and {t.attack for t in q.transforms} == {"jpeg", "blur", "vae_regen", "paraphrase"}


def test_bad_input_names_the_field():
    with pytest.raises(ConfigError, match="masters"):
        load_config(POISONING, ["masters=[0]"])
    with pytest.raises(ConfigError, match="budgets"):
        load_config(POISONING, ["mining.budgets=[-5]"])
    with pytest.raises(ConfigError, match="strengths"):
        load_config(PURIFICATION, ["transforms=[{attack: jpeg, strengths: [1.5]}]"])
    with pytest.raises(ConfigError, match="seeds"):
        load_config(PURIFICATION, ["seeds=0"])


@pytest.mark.slow
def test_purification_rejects_an_unknown_purifier(tmp_path):
    cfg = load_config(PURIFICATION, [*TINY_PURIFICATION, "transforms=[{attack: sharpen9, strengths: [0.5]}]"])
    with pytest.raises(ValueError, match="unknown attack 'sharpen9'; known: .*jpeg"):
        run_experiment(cfg, output_dir=tmp_path)


@pytest.mark.slow
def test_poisoning_runs_and_reports(tmp_path):
    cfg = load_config(POISONING, TINY_POISONING)
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "hijack_top1.mean" in metrics and "defences.detector at insertion.hijack_top1.mean" in metrics
    assert "defences.modality-gap shift 0.25.clean_recall_at_k.se" in metrics
    rows = json.loads((run_dir / "outputs" / "hijack_rows.json").read_text())
    # 2 seeds x 4 query sets (held out, its entities, its classes, mined) x (clean + 2 budgets x 2 counts)
    # plus the detector's flag rate per seed and budget
    assert len(rows) == 2 * 4 * (1 + 2 * 2) + 2 * 2
    flags = [r for r in rows if r["queries"] == "detector"]
    assert all(0.0 <= r["masters_flagged"] <= 1.0 and 0.0 <= r["clean_flagged"] <= 1.0 for r in flags)
    rows = [r for r in rows if r["queries"] != "detector"]
    assert all(0.0 <= r["hijack_top1"] <= r["hijack_topk"] <= 1.0 for r in rows)
    assert all(r["hijack_topk"] == 0.0 for r in rows if r["inserted"] == 0)
    rag = json.loads((run_dir / "outputs" / "rag_rows.json").read_text())
    assert {r["base"] for r in rag} == {"clean", "poisoned"} and {r["kind"] for r in rag} == {
        "entity",
        "class",
    }
    assert all(r["master_retrieved"] == 0.0 for r in rag if r["base"] == "clean")
    html = (run_dir / "report.html").read_text()
    assert "Hijack rate vs number inserted" in html and "+/-" in html and "Defences at 2 steps" in html
    # the master images were really inserted into a copy of the base, the clean base left as it was
    from generators.retrieval import KnowledgeBase

    clean, poisoned = KnowledgeBase.open(run_dir / "kb"), KnowledgeBase.open(run_dir / "kb-poisoned-seed0")
    assert len(poisoned) == len(clean) + 2
    assert sum(bool(e["meta"].get("master")) for e in poisoned.entries) == 2


@pytest.mark.slow
def test_purification_runs_resumes_and_reports(tmp_path):
    from workbench.runs import resume_run

    cfg = load_config(PURIFICATION, TINY_PURIFICATION)
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    rows = json.loads((run_dir / "outputs" / "rows.json").read_text())
    assert len(rows) == 2 * 4  # seeds x (none + 3 conditions)
    assert {r["transform"] for r in rows} == {"none", "jpeg", "blur"}
    assert all(
        0.0 <= r[k] <= 1.0 for r in rows for k in ("fooling_accuracy", "outrank", "zero_shot_accuracy")
    )
    html = (run_dir / "report.html").read_text()
    assert "Fooling vs strength, with the zero-shot cost" in html and "zero-shot drop" in html
    resume_run(run_dir, force=True)  # every item reloaded from its checkpoint: the same numbers
    assert json.loads((run_dir / "outputs" / "rows.json").read_text()) == rows


def test_hijack_on_embeddings_agrees_with_the_knowledge_base(tmp_path):
    """What the study computes on embeddings is what the base's own search returns once the master
    images are inserted."""
    from apps.studies.poisoning.hijack import relevance, retrieval_outcome
    from apps.studies.poisoning.queries import MasterSource, ToySceneSource, entity_queries
    from generators.retrieval import ClipEmbedder, KnowledgeBase, ToyEntitySource
    from workbench.dummy import dummy_clip

    embedder = ClipEmbedder(*dummy_clip(seed=0), name="dummy-clip")
    kb = KnowledgeBase.build(tmp_path / "kb", ToyEntitySource(2, entities=["zorvik", "xandro"]), embedder)
    kb.add(ToySceneSource(3))
    clean = kb.image_emb.clone()
    masters = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kb.add(MasterSource(masters, ["a red circle", "a blue star", "a green cross"], tag="t"))
    assert len(kb) == clean.shape[0] + 3
    queries = entity_queries("zorvik") + entity_queries("xandro")
    texts = [q.text for q in queries]
    hits = kb.search(texts, k=3, target="image")
    m_emb = embedder.embed_images(masters)
    out = retrieval_outcome(
        embedder.embed_texts(texts), clean, m_emb, relevance(queries, kb.entries[: len(clean)]), 3
    )
    assert out["hijack_top1"] == pytest.approx(sum(bool(h[0].meta.get("master")) for h in hits) / len(hits))
    assert out["hijack_topk"] == pytest.approx(
        sum(any(x.meta.get("master") for x in h) for h in hits) / len(hits)
    )
