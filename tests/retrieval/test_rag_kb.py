"""Knowledge base: build / add / search round trip, sources, de-duplication, exact vs FAISS, filters,
foreign-CLIP refusal."""

from __future__ import annotations

import json

import pytest
import torch

from generators.retrieval import (
    DedupSettings,
    FolderSource,
    ForeignEmbedderError,
    IndexSettings,
    KBItem,
    KnowledgeBase,
    SourceError,
    TableSource,
)
from generators.retrieval.index import ExactIndex, build_index
from tests.retrieval.conftest import ENTITIES
from workbench.io import save_image


class ListSource:
    """Items given in a list (tests only)."""

    def __init__(self, items, source_id="list"):
        self.items, self.source_id = list(items), source_id

    def __len__(self):
        return len(self.items)

    def item(self, i):
        return self.items[i]


def test_round_trip_reopen_and_search(kb, embedder, catalogue):
    assert len(kb) == len(catalogue) == 2 * len(ENTITIES)
    again = KnowledgeBase.open(kb.folder, embedder)
    assert [e["text"] for e in again.entries] == [e["text"] for e in kb.entries]
    assert torch.equal(again.image_emb, kb.image_emb) and torch.equal(again.text_emb, kb.text_emb)
    manifest = json.loads((kb.folder / "manifest.json").read_text())
    assert manifest["embedder"]["name"] == "dummy-clip" and len(manifest["embedder"]["fingerprint"]) == 64
    assert manifest["count"] == len(kb) and sum(c["count"] for c in manifest["chunks"]) == len(kb)
    # text-to-text: an entry's own caption finds it first, with cosine 1
    for i in (0, 5):
        hit = again.search(kb.entries[i]["text"], k=3, target="text")[0][0]
        assert hit.id == i and hit.score == pytest.approx(1.0, abs=1e-5)
    # image-to-image: an entry's own pixels find it first
    hit = again.search(kb.image(3)[None], k=1, target="image")[0][0]
    assert hit.id == 3
    assert kb.image(3).shape == (3, 64, 64) and 0 <= kb.image(3).min() and kb.image(3).max() <= 1


def test_filters_restrict_hits(kb):
    hits = kb.search("a zorvik emblem", k=10, target="text", filters={"bucket": "rare"})[0]
    assert hits and all(h.meta["bucket"] == "rare" for h in hits)
    assert len(hits) == 2  # fewer than k: only the rare entity's two views match
    hits = kb.search(["a zorvik emblem"], k=10, target="image", filters={"entity": ["xandro", "zorvik"]})[0]
    assert {h.meta["entity"] for h in hits} == {"xandro", "zorvik"} and len(hits) == 4


def test_bm25_finds_an_entity_by_its_name_whatever_the_clip(kb, embedder, tmp_path):
    # the dummy CLIP embeds names at random; BM25 matches the name's word
    for entity in ENTITIES:
        hits = kb.search(f"a {entity} emblem in the middle and a red circle", k=2, target="bm25")[0]
        assert [h.meta["entity"] for h in hits] == [entity, entity]
        assert hits[0].score > 0
    hits = kb.search(["a zorvik emblem"], k=10, target="bm25", filters={"bucket": "rare"})[0]
    assert len(hits) == 2 and all(h.meta["bucket"] == "rare" for h in hits)
    with pytest.raises(ValueError, match="text queries"):
        kb.search(kb.image(0)[None], k=1, target="bm25")
    with pytest.raises(ValueError, match="'bm25'"):
        kb.search("a zorvik emblem", k=1, target="words")
    small = KnowledgeBase.build(
        tmp_path / "small", ListSource([KBItem("a red circle", kb.image(0))]), embedder
    )
    assert small.search("a blue snark", k=1, target="bm25")[0][0].text == "a red circle"
    small.add(ListSource([KBItem("a blue snark", kb.image(1))], source_id="more"))
    assert (
        small.search("a blue snark", k=1, target="bm25")[0][0].text == "a blue snark"
    )  # the index follows adds


def test_exact_and_faiss_agree(kb, embedder):
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(500, 32, generator=g), dim=1)
    q = torch.nn.functional.normalize(torch.randn(20, 32, generator=g), dim=1)
    allowed = torch.rand(500, generator=g) < 0.3
    exact = ExactIndex(x)
    for settings in (IndexSettings(kind="flat"), IndexSettings(kind="ivf", nlist=8, nprobe=8)):
        index = build_index(x, settings)
        for mask in (None, allowed):
            s1, i1 = exact.search(q, 10, mask)
            s2, i2 = index.search(q, 10, mask)
            assert torch.equal(i1, i2), settings.kind
            assert torch.allclose(s1, s2, atol=1e-5)
    s3, i3 = build_index(x, IndexSettings(kind="hnsw")).search(q, 10)
    recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact.search(q, 10)[1], i3)) / 200
    assert recall >= 0.9
    # the knowledge base answers the same with a FAISS flat index (built, saved, then loaded from index/)
    flat = KnowledgeBase.open(kb.folder, embedder, index=IndexSettings(kind="flat"))
    queries = ["a zorvik emblem on the left", "a pazzle emblem", "a xandro emblem at the top"]
    for target in ("text", "image"):
        a = [[h.id for h in hits] for hits in kb.search(queries, k=5, target=target)]
        b = [[h.id for h in hits] for hits in flat.search(queries, k=5, target=target)]
        assert a == b
    assert (kb.folder / "index" / "text-flat.faiss").is_file()
    reopened = KnowledgeBase.open(kb.folder, embedder, index=IndexSettings(kind="flat"))
    assert [h.id for h in reopened.search(queries[:1], k=5, target="text")[0]] == [
        h.id for h in kb.search(queries[:1], k=5, target="text")[0]
    ]


def test_dedup_exact_and_near(tmp_path, embedder, catalogue):
    kb = KnowledgeBase.build(tmp_path / "kb", catalogue, embedder, chunk_size=4)
    n = len(kb)
    again = kb.add(
        catalogue, chunk_size=4
    )  # a finished source scanned again: every item is an exact duplicate
    assert again.added == 0 and again.skipped_exact == n and len(kb) == n
    image = kb.image(0)
    jitter = (image + torch.where(image < 0.5, 2.0, -2.0) / 255).clamp(
        0, 1
    )  # other pixels: another content hash
    text = kb.entries[0]["text"]
    near = kb.add(
        ListSource([KBItem(text, jitter), KBItem("a completely different caption", jitter)], "near")
    )
    assert near.skipped_near == 1 and near.added == 1 and len(kb) == n + 1
    off = KnowledgeBase.build(
        tmp_path / "off",
        ListSource([KBItem(text, image), KBItem(text, jitter)]),
        embedder,
        dedup=DedupSettings(near_duplicate=None),
    )
    assert len(off) == 2  # near-duplicate check off: both kept


def test_folder_and_table_sources(tmp_path, embedder):
    from generators.retrieval import ToyEntitySource

    src = ToyEntitySource(views_per_entity=1, entities=ENTITIES[:3])
    folder = tmp_path / "images"
    for i in range(len(src)):
        item = src.item(i)
        save_image(folder / f"{i:02d}.png", item.image)
        if i == 0:
            (folder / "00.txt").write_text(item.text)
    (folder / "metadata.jsonl").write_text(
        "\n".join(json.dumps({"file_name": f"{i:02d}.png", "text": src.item(i).text}) for i in (1, 2))
    )
    fs = FolderSource(folder)
    assert len(fs) == 3 and fs.item(0).text == src.item(0).text and fs.item(2).text == src.item(2).text
    kb = KnowledgeBase.build(tmp_path / "kb", fs, embedder)
    assert len(kb) == 3
    # a table of (image path, text) with an extra column: relative paths, metadata kept
    table = tmp_path / "pairs.csv"
    table.write_text("image,text,kind\nimages/00.png,one,a\nimages/01.png,two,b\n")
    ts = TableSource(table)
    assert ts.item(1).meta == {"kind": "b"}
    added = kb.add(ts)
    assert added.added == 2 and len(kb) == 5  # same pixels, other captions: new entries
    assert kb.search("one", k=1, target="text", filters={"kind": "a"})[0][0].text == "one"
    (folder / "03.png").write_bytes((folder / "00.png").read_bytes())
    with pytest.raises(SourceError, match="has no caption"):
        FolderSource(folder).item(3)
    with pytest.raises(SourceError, match="no column 'caption'"):
        TableSource(table, text_column="caption")


def test_foreign_clip_refused(kb):
    from generators.retrieval import ClipEmbedder
    from workbench.dummy import dummy_clip

    other = ClipEmbedder(*dummy_clip(seed=1), name="other-clip")
    with pytest.raises(ForeignEmbedderError, match="dummy-clip.*other-clip"):
        KnowledgeBase.open(kb.folder, other)
    with pytest.raises(ForeignEmbedderError):
        KnowledgeBase.build(kb.folder, ListSource([]), other)
    # the same model with weights off by rounding (another precision): the probes match, accepted
    model, processor = dummy_clip(seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p * 1e-6)
    same = ClipEmbedder(model, processor, name="dummy-clip-rounded")
    assert same.fingerprint != kb.manifest.embedder.fingerprint
    assert len(KnowledgeBase.open(kb.folder, same)) == len(kb)
