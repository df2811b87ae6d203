"""The retrieval-conditioned trainer: the toy loop's protocol, exact resume, export that loads."""

from __future__ import annotations

import pytest
import torch

from generators.retrieval import RetrievalAugmentedPipeline, retrieve
from generators.retrieval.train import RetrievalTrainer
from toyworld.train.loop import run_training


def _trainer(kb, embedder, sd_pipe, **kw):
    return RetrievalTrainer(
        batch_size=2,
        image_size=32,
        num_neighbours=2,
        pipeline=sd_pipe,
        embedder=embedder,
        knowledge_base=kb,
        **kw,
    )


def test_examples_are_keyed_by_step_and_group_neighbours(kb, embedder, sd_pipe):
    t = _trainer(kb, embedder, sd_pipe, name_drop=0.0, design_frac=0.0)
    images, captions, rows = t.examples(3, 4)
    images2, captions2, rows2 = t.examples(3, 4)
    assert torch.equal(images, images2) and captions == captions2 and rows == rows2
    assert images.shape == (4, 3, 32, 32)
    for caption, nbrs in zip(captions, rows):
        entity = caption.split()[1]
        assert entity != "xandro"  # unseen entities never appear in training scenes
        assert all(kb.entries[r]["meta"]["entity"] == entity for r in nbrs)


def test_names_are_left_out_of_training_captions_at_the_name_drop_rate(kb, embedder, sd_pipe):
    from generators.retrieval.entity_scenes import without_name

    assert without_name("a zorvik emblem on the left and a red circle", "zorvik") == (
        "an emblem on the left and a red circle"
    )
    with pytest.raises(ValueError, match="does not name the entity"):
        without_name("a red circle", "zorvik")
    named = _trainer(kb, embedder, sd_pipe, name_drop=0.0, design_frac=0.0).examples(5, 16)
    unnamed = _trainer(kb, embedder, sd_pipe, name_drop=1.0, design_frac=0.0).examples(5, 16)
    assert torch.equal(named[0], unnamed[0]) and named[2] == unnamed[2]  # the same scenes and neighbours
    assert not any(c.startswith("an emblem") for c in named[1])
    assert all(c.startswith("an emblem") for c in unnamed[1])
    half = _trainer(kb, embedder, sd_pipe, name_drop=0.5, design_frac=0.0).examples(5, 64)[1]
    assert 10 < sum(c.startswith("an emblem") for c in half) < 54
    val = _trainer(kb, embedder, sd_pipe, name_drop=0.0, design_frac=0.0)
    assert all(c.startswith("an emblem") for c in val.examples(0, 4, split="val-unnamed")[1])
    assert not any(c.startswith("an emblem") for c in val.examples(0, 4, split="val")[1])


def test_anonymous_designs_come_with_views_of_their_own_design(kb, embedder, sd_pipe):
    from toyworld.entities import _designs
    from toyworld.scene import Scene

    t = _trainer(kb, embedder, sd_pipe, design_frac=0.5)
    images, captions, neighbours = t.examples(7, 32)
    anonymous = [n for n, nb in enumerate(neighbours) if isinstance(nb[0], Scene)]
    assert 4 < len(anonymous) < 28
    named = {(d.outer_shape, d.outer_color, d.inner_shape) for d in _designs().values()}
    for n in anonymous:
        assert captions[n].startswith("an emblem")
        designs = {v.objects[0].design for v in neighbours[n]}
        assert len(designs) == 1 and len(neighbours[n]) == 2  # k views of one design
        d = designs.pop()
        assert (d.outer_shape, d.outer_color, d.inner_shape) not in named
    image, text = t.neighbour_embeddings(neighbours)
    assert image.shape == text.shape == (32, 2, kb.image_emb.shape[1])
    n = anonymous[0]
    view = t.world.render([neighbours[n][1]])
    assert torch.allclose(image[n, 1], embedder.embed_images(view.images)[0], atol=1e-5)
    rows = next(nb for nb in neighbours if not isinstance(nb[0], Scene))
    m = neighbours.index(rows)
    assert torch.allclose(image[m], kb.image_emb[rows].float())
    assert torch.allclose(text[m], kb.text_emb[rows].float())
    val = t.examples(0, 4, split="val-design")
    assert all(isinstance(nb[0], Scene) for nb in val[2])
    with pytest.raises(ValueError, match="design_frac"):
        _trainer(kb, embedder, sd_pipe, design_frac=1.5)


def test_resume_is_exact_and_export_loads(tmp_path, kb, embedder, sd_pipe):
    a = _trainer(kb, embedder, sd_pipe)
    run_training(a, tmp_path / "work", max_steps=2, eval_every=100)
    b = _trainer(kb, embedder, sd_pipe)
    summary = run_training(b, tmp_path / "work", max_steps=3, eval_every=100)  # resumes at step 2
    assert summary["step"] == 3
    assert set(summary) >= {"val_loss_retrieval", "val_loss_no_retrieval", "val_loss_retrieval_design"}
    c = _trainer(kb, embedder, sd_pipe)
    run_training(c, tmp_path / "straight", max_steps=3, eval_every=100)
    for (k1, v1), v2 in zip(b.unet.state_dict().items(), c.unet.state_dict().values()):
        assert torch.allclose(v1, v2, atol=1e-6), k1
    assert all(
        torch.allclose(v, c.conditioner.state_dict()[k], atol=1e-6)
        for k, v in b.conditioner.state_dict().items()
    )

    b.export(tmp_path / "export", {"steps": 3})
    assert (tmp_path / "export" / "README.md").is_file()
    pipe = RetrievalAugmentedPipeline.from_export(tmp_path / "export")
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        ["a zorvik emblem"],
        neighbours=retrieve(kb, ["a zorvik emblem"], k=2),
        num_inference_steps=2,
        guidance={"scheme": "interleaved"},
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    )
    assert out.mode == "conditioned" and out.images.shape == (1, 3, 32, 32)
    d = _trainer(kb, embedder, sd_pipe)
    d.warm_start(tmp_path / "export")
    assert all(
        torch.equal(v, pipe.retrieval_conditioner.state_dict()[k])
        for k, v in d.conditioner.state_dict().items()
    )
