"""The toy CLIP's training data: shape twins and short captions."""

from toyworld.train.clip import CLIPTrainer, partial_caption
from toyworld.vocab import SHAPES


def test_a_scene_and_its_shape_twin_get_captions_that_differ_only_in_the_shape():
    trainer = CLIPTrainer(batch_size=64, partial_prob=0.5)
    batch = trainer.data(5)
    captions = trainer.captions(batch, 5)
    quarter = 16
    short = 0
    for i in range(quarter):
        a, b = captions[i].split(), captions[i + quarter].split()
        obj, twin = batch.scenes[i].objects[0], batch.scenes[i + quarter].objects[0]
        if obj.entity is None:
            assert len(a) == len(b) and [x for x, y in zip(a, b) if x != y] == [obj.shape]
            assert b[a.index(obj.shape)] == twin.shape and twin.shape != obj.shape
        short += captions[i] != batch.captions[i]
    assert 2 <= short <= 14  # about half of the 16 pairs
    assert captions[2 * quarter :] == batch.captions[2 * quarter :]  # multi-object scenes keep theirs
    assert captions == trainer.captions(batch, 5)  # seeded by the step
    assert all(s in SHAPES for s in [batch.scenes[i].objects[0].shape for i in range(quarter)])


def test_partial_caption_names_the_shape_with_the_kept_attributes():
    scenes = CLIPTrainer(batch_size=8).data(0).scenes
    obj = next(s.objects[0] for s in scenes if s.objects[0].entity is None)
    assert partial_caption(obj, ()) == f"a {obj.shape}"
    assert partial_caption(obj, ("size", "color")) == f"a {obj.size} {obj.color} {obj.shape}"
    assert partial_caption(obj, ("position",)).startswith(f"a {obj.shape} ")
