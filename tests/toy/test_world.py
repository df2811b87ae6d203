import numpy as np
import pytest
import torch

from toyworld.entities import BUCKETS, entity_design
from toyworld.judge.matching import box_iou
from toyworld.scene import ObjectSpec, Scene
from toyworld.vocab import ENTITY_NAMES
from toyworld.world import ShapesWorld, cell_box, parse_caption


def test_scenes_are_deterministic_and_splits_differ():
    w = ShapesWorld(32)
    a = w.batch(0, "train", 10, 4, n_objects=(1, 4))
    b = w.batch(0, "train", 10, 4, n_objects=(1, 4))
    c = w.batch(0, "test", 10, 4, n_objects=(1, 4))
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert a.captions != c.captions


def test_caption_parses_back_to_the_scene():
    w = ShapesWorld(64)
    batch = w.batch(3, "val", 0, 200, n_objects=(1, 4), entity_prob=0.2, entities=ENTITY_NAMES)
    for scene in batch.scenes:
        parsed = parse_caption(scene.caption())
        assert len(parsed) == len(scene.objects)
        for p, o in zip(parsed, scene.objects):
            assert (p.shape, p.color, p.size, p.texture, p.position, p.entity) == (
                o.shape,
                o.color,
                o.size,
                o.texture,
                o.position,
                o.entity,
            )


def test_objects_never_overlap_and_masks_match_boxes():
    w = ShapesWorld(64)
    batch = w.batch(1, "train", 0, 100, n_objects=4)
    for scene, mask in zip(batch.scenes, batch.masks):
        boxes = scene.boxes
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert box_iou(boxes[i], boxes[j]) == 0.0
            ys, xs = torch.nonzero(mask == i + 1, as_tuple=True)
            assert len(ys) > 0
            tight = (
                xs.min().item() / 64,
                ys.min().item() / 64,
                (xs.max().item() + 1) / 64,
                (ys.max().item() + 1) / 64,
            )
            assert box_iou(tight, boxes[i]) > 0.6


def test_render_range_and_shapes():
    w = ShapesWorld(48)
    batch = w.batch(0, "train", 0, 8)
    assert batch.images.shape == (8, 3, 48, 48) and batch.images.dtype == torch.float32
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert batch.masks.shape == (8, 48, 48)


def test_entities_are_distinct_and_bucketed():
    designs = {n: entity_design(n) for n in ENTITY_NAMES}
    keys = {(d.outer_shape, d.outer_color, d.inner_shape) for d in designs.values()}
    assert len(keys) == len(ENTITY_NAMES)
    assert sum(len(v) for v in BUCKETS.values()) == len(ENTITY_NAMES)
    with pytest.raises(KeyError, match="unknown entity"):
        entity_design("nonexistent")


def test_bad_objects_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="unknown shape"):
        ObjectSpec("blob", "red").validate()
    with pytest.raises(ValueError, match="normalised xyxy"):
        ObjectSpec("circle", "red", box=(0.5, 0.5, 0.4, 0.9)).validate()
    with pytest.raises(ValueError, match="at least 16"):
        ShapesWorld(8)


def test_scene_dict_round_trip():
    scene = Scene(objects=(ObjectSpec("star", "blue", "small", "plain", cell_box(2, 0.085, None)),))
    assert Scene.from_dict(scene.to_dict()) == scene
    assert scene.caption() == "a small blue star in the top right"


def test_parse_accepts_free_text():
    objs = parse_caption("A photo of a green triangle at the top, and a cyan cross.")
    assert [(o.shape, o.color, o.position) for o in objs] == [
        ("triangle", "green", "top"),
        ("cross", "cyan", None),
    ]
    assert parse_caption("nothing here") == []
    assert np.isclose(sum(cell_box(4, 0.1, None)), 2.0)
