"""The studies' measures on hand-made embeddings: hijack rate, recall, the query-time screen, the
modality-gap shift, fooling and zero-shot accuracy, the query split and the statistics over seeds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from apps.studies.poisoning.hijack import modality_gap, relevance, retrieval_outcome, shift_embeddings
from apps.studies.poisoning.queries import Query, split_queries
from apps.studies.purification.experiment import class_prompts, measure
from apps.studies.stats import over_seeds, seed_cell, summary


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


# two queries along x and y; base entries: 0 (x, relevant to q0), 1 (y, relevant to q1), 2 (far)
Q = unit([1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
BASE = unit([0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.0, 0.0, 1.0])
REL = torch.tensor([[True, False, False], [False, True, False]])
MASTER = unit([1.0, 1.0, 0.05])  # cos 0.707 with both queries: below both relevant entries (~0.99)
STRONG = unit([1.0, 0.0, 0.0])  # beats entry 0 for q0 only


def test_clean_base_has_no_hijack_and_full_recall():
    out = retrieval_outcome(Q, BASE, torch.zeros(0, 3), REL, k=1)
    assert out == {
        "hijack_top1": 0.0,
        "hijack_topk": 0.0,
        "recall_at_1": 1.0,
        "recall_at_k": 1.0,
        "base_kept": 1.0,
    }


def test_a_master_image_takes_top1_only_where_it_outscores_the_real_entries():
    weak = retrieval_outcome(Q, BASE, MASTER, REL, k=2)
    assert weak["hijack_top1"] == 0.0 and weak["hijack_topk"] == 1.0  # second place for both queries
    strong = retrieval_outcome(Q, BASE, STRONG, REL, k=1)
    assert strong["hijack_top1"] == 0.5 and strong["recall_at_1"] == 0.5


def test_removing_a_master_at_insertion_or_query_time():
    keep_master = torch.tensor([False])
    at_insert = retrieval_outcome(Q, BASE, STRONG, REL, k=1, keep_master=keep_master)
    at_query = retrieval_outcome(Q, BASE, STRONG, REL, k=1, keep_master=keep_master, window=2)
    assert at_insert["hijack_top1"] == at_query["hijack_top1"] == 0.0
    assert at_insert["recall_at_1"] == at_query["recall_at_1"] == 1.0
    # a false positive on a clean entry costs recall; a window too short returns nothing
    keep_base = torch.tensor([False, True, True])
    lost = retrieval_outcome(
        Q, BASE, STRONG, REL, k=1, keep_base=keep_base, keep_master=keep_master, window=1
    )
    assert lost["recall_at_1"] == 0.5 and lost["base_kept"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="window"):
        retrieval_outcome(Q, BASE, STRONG, REL, k=2, window=1)


def test_the_shift_moves_the_two_cones_together():
    text = unit([1.0, 0.0, 0.2], [0.0, 1.0, 0.2])
    images = unit([1.0, 0.0, -0.5], [0.0, 1.0, -0.5])
    gap = modality_gap(text, images)
    t2, i2 = shift_embeddings(text, images, gap, 0.5)
    assert (t2 @ i2.T).diag().min() > (text @ images.T).diag().max()
    assert torch.allclose(t2.norm(dim=-1), torch.ones(2))


def test_relevance_by_entity_and_class():
    entries = [
        {"meta": {"entity": "zorvik"}},
        {"meta": {"kind": "scene", "classes": ["red circle", "blue star"]}},
    ]
    queries = [Query("a zorvik emblem", "entity", "zorvik"), Query("a blue star", "class", "blue star")]
    assert relevance(queries, entries).tolist() == [[True, False], [False, True]]


def test_the_split_holds_out_whole_entities_and_classes():
    split = split_queries(0)
    mined = {q.target for q in split.mined}
    held = {q.target for q in split.heldout}
    assert mined and held and not mined & held
    assert split_queries(0) == split and split_queries(1) != split


def test_fooling_outrank_and_zero_shot():
    class Dot:
        def similarity(self, a, b):
            return a @ b.T

    text = unit([1.0, 0.0], [0.0, 1.0])
    # one master, then real images: two of class 0 (the second weak and misclassified), one of class 1
    # (misclassified); master scores 0.707 for both prompts
    emb = unit([1.0, 1.0], [1.0, 0.0], [1.0, 1.5], [1.0, 0.2])
    out = measure(Dot(), text, emb, 1, torch.tensor([0, 0, 1]))
    # class 0: the master beats 1 of 2 real images (1.0, 0.555); class 1: the one real image (0.196)
    assert out["fooling_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["outrank"] == pytest.approx(0.5)
    assert out["zero_shot_accuracy"] == pytest.approx(1 / 3)
    assert class_prompts(0, 5) == class_prompts(0, 5) and len(set(class_prompts(1, 5))) == 5


def test_statistics_over_seeds():
    s = over_seeds([0.2, 0.4, 0.6])
    assert s["mean"] == pytest.approx(0.4) and s["se"] == pytest.approx(0.2 / 3**0.5)
    assert over_seeds([0.3])["se"] == 0.0
    assert seed_cell([0.2, 0.4, 0.6]) == "40.0 +/- 11.5 (20.0, 40.0, 60.0)"
    rows = [{"seed": 0, "v": 1.0, "g": "a"}, {"seed": 0, "v": 0.0, "g": "a"}, {"seed": 1, "v": 1.0, "g": "a"}]
    assert summary(rows, "v", {"g": "a"})["values"] == [0.5, 1.0]
    assert summary(rows, "v", {"g": "b"}) is None
    with pytest.raises(ValueError, match="no values"):
        over_seeds([])


def test_the_package_is_declared_and_layered():
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pyproject = (root / "pyproject.toml").read_text()
    plugins = pyproject.split('[project.entry-points."workbench.plugins"]')[1].split("[")[0]
    assert 'studies = "apps.studies.plugin"' in plugins
    assert not (root / "studies").exists() and (root / "apps" / "studies" / "__init__.py").exists()
    sys.path.insert(0, str(root / "tools"))
    from check_layers import ALLOWED

    # the studies use a generator and an attack together: only the top layer may import both
    assert "studies" not in ALLOWED and {"generators", "attacks"} <= ALLOWED["apps"]
    from workbench.experiments import EXPERIMENTS
    from workbench.plugins import load_plugins

    load_plugins()
    assert {
        "master-prints-vs-retrieval",
        "purification-vs-master-prints",
        "watermarks-through-generators",
    } <= set(EXPERIMENTS.names())
