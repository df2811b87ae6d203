"""GCDP with colour layouts: the (shape, colour) classes of the toy world, their maps and round trip, the
evaluation's colour-implied layouts, the trainer's ``layout_colors`` option and its checkpoints, and the
pipeline and generators of a 50-class model on tiny random weights."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from generators.layout import BoxLayout
from generators.layout.gcdp.generator import layout_class_map, pipeline_layout_colors
from generators.layout.gcdp.testing import gcdp_pipeline_from_sd
from toyworld.semantic import (
    EMBLEM,
    LAYOUT_CLASSES,
    class_of_object,
    class_of_shape,
    colors_of_num_classes,
    downsample_classes,
    layout_classes,
    layout_from_objects,
    semantic_maps,
    shape_classes,
)
from toyworld.vocab import COLOR_NAMES, SHAPES
from toyworld.world import ShapesWorld

K = 1 + len(SHAPES) * len(COLOR_NAMES) + 1  # 50


# ------------------------------------------------------------------ the classes
def test_colour_classes_are_background_shape_colour_pairs_and_emblem():
    names = layout_classes(colors=True)
    assert len(names) == K == 50 and names[0] == "background" and names[-1] == "emblem"
    assert layout_classes() == LAYOUT_CLASSES and len(LAYOUT_CLASSES) == 8  # the default is unchanged
    for shape in SHAPES:
        for color in COLOR_NAMES:
            assert names[class_of_shape(shape, color, colors=True)] == f"{color} {shape}"
            assert class_of_shape(shape, color) == 1 + SHAPES.index(shape)  # shape layouts ignore colour
    assert class_of_shape("star", "red", colors=True, emblem=True) == K - 1
    assert colors_of_num_classes(50) and not colors_of_num_classes(8)


def test_colour_class_errors_say_what_to_give():
    with pytest.raises(ValueError, match="colour layouts need a colour"):
        class_of_shape("circle", None, colors=True)
    with pytest.raises(ValueError, match="unknown shape 'blob'"):
        class_of_shape("blob", "red", colors=True)
    with pytest.raises(ValueError, match="neither the shape layout's 8 nor the colour layout's 50"):
        colors_of_num_classes(3)
    with pytest.raises(ValueError, match=r"\(entity, shape, box, colour\)"):
        layout_from_objects([[(None, "circle", (0.0, 0.0, 0.5, 0.5))]], 32, colors=True)


def test_colour_maps_hold_each_objects_shape_and_colour_and_map_back_to_shapes():
    batch = ShapesWorld(64).batch(seed=3, split="train", start=0, count=16, n_objects=(1, 4), entity_prob=0.3)
    maps = semantic_maps(batch.scenes, batch.masks, colors=True)  # (16, 64, 64)
    names = layout_classes(colors=True)
    for scene, mask, cmap in zip(batch.scenes, batch.masks, maps):
        for i, obj in enumerate(scene.objects):
            want = class_of_object(obj, colors=True)
            assert (cmap[mask == i + 1] == want).all()
            assert names[want] == ("emblem" if obj.entity is not None else f"{obj.color} {obj.shape}")
        assert (cmap[mask == 0] == 0).all()
    shapes = semantic_maps(batch.scenes, batch.masks)
    assert torch.equal(shape_classes(maps), shapes)  # colour classes map back to their shapes
    assert shape_classes(torch.tensor([0, K - 1])).tolist() == [0, EMBLEM]
    small = downsample_classes(maps, 4)
    assert small.shape == (16, 16, 16) and small.max() < K
    for scene, s in zip(batch.scenes, small):  # every object keeps at least one latent position
        assert {class_of_object(o, colors=True) for o in scene.objects} <= set(s.unique().tolist())


def test_layout_from_objects_round_trips_shape_and_colour():
    objs = [
        [(None, "star", (0.0, 0.0, 0.5, 0.5), "purple"), ("zorvik", "square", (0.5, 0.5, 1.0, 1.0), None)]
    ]
    cmap = layout_from_objects(objs, 32, colors=True)[0]  # (32, 32)
    names = layout_classes(colors=True)
    assert {names[k] for k in cmap.unique().tolist()} == {"background", "purple star", "emblem"}
    assert names[int(cmap[8, 8])] == "purple star" and int(cmap[24, 24]) == K - 1
    assert torch.equal(layout_from_objects([[o[:3] for o in objs[0]]], 32)[0], shape_classes(cmap))


def test_implied_colour_layouts_of_exact_detections_match_the_scenes():
    from generators.layout.gcdp.evaluate import implied_layouts, layout_miou

    batch = ShapesWorld(64).batch(seed=1, split="test", start=0, count=4, n_objects=2)
    exact = downsample_classes(semantic_maps(batch.scenes, batch.masks, colors=True), 4)
    dets = [
        [SimpleNamespace(entity=o.entity, shape=o.shape, box=o.box, color=o.color) for o in s.objects]
        for s in batch.scenes
    ]
    torch.testing.assert_close(layout_miou(exact, implied_layouts(dets, 64, 4, colors=True)), torch.ones(4))
    recoloured = [[SimpleNamespace(**{**vars(d), "color": "white"}) for d in ds] for ds in dets]
    wrong = implied_layouts(recoloured, 64, 4, colors=True)
    assert (layout_miou(exact, wrong) < 1).all()  # the colour counts
    torch.testing.assert_close(layout_miou(shape_classes(exact), shape_classes(wrong)), torch.ones(4))


# ------------------------------------------------------------------ the trainer
def _parts():
    from workbench.dummy import dummy_sd_components

    c = dummy_sd_components(seed=0, image_size=32)
    return (c["vae"], c["text_encoder"], c["tokenizer"], c["unet"])


def _colour_trainer(**kw):
    from generators.layout.gcdp.train import GCDPTrainer

    return GCDPTrainer(
        batch_size=4, image_size=32, reuse=2, eval_batches=1, parts=_parts(), layout_colors=True, **kw
    )


def test_colour_trainer_trains_50_classes_and_its_checkpoint_reads_back():
    from generators.layout.gcdp.train import GCDPTrainer, pipeline_from_checkpoint

    trainer = _colour_trainer(trunk_lr_scale=0.1, trunk_frozen_steps=1)
    assert trainer.denoiser.config.num_classes == K and trainer.layout_scheduler.config.num_classes == K
    assert trainer.recipe.endswith("-colour-layout") and trainer.recipe != GCDPTrainer.recipe
    layouts = trainer.layouts_of(trainer.data(0))  # (4, h, w)
    assert layouts.max() < K and (layouts >= len(LAYOUT_CLASSES)).any()  # colour classes beyond the 8
    logs = trainer.step(0)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    state = {"trainer": trainer.state_dict(), "step": 1, "seconds": 1.0}
    assert state["trainer"]["options"]["layout_colors"] is True
    pipe = pipeline_from_checkpoint(state, parts=_parts())
    assert pipeline_layout_colors(pipe)
    for key, value in pipe.denoiser.state_dict().items():  # the EMA weights
        torch.testing.assert_close(value, trainer.ema.shadow[key].to(value.dtype), msg=key)
    copy = _colour_trainer(trunk_lr_scale=0.1, trunk_frozen_steps=1)
    copy.load_state_dict(trainer.state_dict())  # resumes with its optimiser


def test_checkpoints_without_options_read_back_as_shape_layouts():
    from generators.layout.gcdp.train import GCDPTrainer, pipeline_from_checkpoint

    trainer = GCDPTrainer(batch_size=4, image_size=32, reuse=2, parts=_parts())
    state = trainer.state_dict()
    del state["options"]  # as written before the option existed
    pipe = pipeline_from_checkpoint({"trainer": state}, parts=_parts())
    assert pipe.denoiser.config.num_classes == len(LAYOUT_CLASSES) and not pipeline_layout_colors(pipe)


# ------------------------------------------------------------------ the pipeline and generators
@pytest.fixture(scope="module")
def colour_pipe():
    from workbench.dummy import dummy_sd_pipeline

    return gcdp_pipeline_from_sd(dummy_sd_pipeline(seed=0, image_size=32), num_classes=K)


def test_colour_pipeline_generates_50_class_layouts_and_takes_them(colour_pipe):
    g = [torch.Generator().manual_seed(0)]
    out = colour_pipe(["a red circle"], num_inference_steps=2, generator=g, output_type="pt")
    assert out.images.shape == (1, 3, 32, 32) and out.layouts.shape == (1, 16, 16) and out.layouts.max() < K
    given = torch.full((16, 16), class_of_shape("circle", "cyan", colors=True))
    out = colour_pipe(["a cyan circle"], layout=given, num_inference_steps=2, generator=g, output_type="pt")
    assert torch.equal(out.layouts[0], given)


def test_phrases_give_colour_classes_and_a_phrase_without_colour_is_refused(colour_pipe):
    from generators.layout.methods import layout_request
    from workbench.generation import build_generator

    layout = BoxLayout(
        phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1, 1)]
    )
    cmap = layout_class_map(layout, 32, colors=True)
    names = layout_classes(colors=True)
    assert names[int(cmap[8, 8])] == "red circle" and names[int(cmap[24, 24])] == "blue square"
    assert torch.equal(shape_classes(cmap), layout_class_map(layout, 32))
    request = layout_request(
        ["a red circle and a blue square"], [layout], [None], [torch.Generator()], 2, 5.0
    )
    given = build_generator("gcdp_layout", colour_pipe)
    assert given(request).shape == (1, 3, 32, 32)
    assert {names[k] for k in given.last_layouts[0].unique().tolist()} == {
        "background",
        "red circle",
        "blue square",
    }
    grey = BoxLayout(phrases=["a circle"], boxes=[(0.0, 0.0, 0.5, 0.5)])
    with pytest.raises(ValueError, match="names no colour") as info:
        layout_class_map(grey, 32, colors=True)
    assert "\n" not in str(info.value)
    assert layout_class_map(grey, 32).max() == 1 + SHAPES.index("circle")  # shape layouts need no colour
