"""The small-object captioner recipe: its token weights, its loss, and the per-size error measure."""

import pytest
import torch

from toyworld.evaluate.captioner_eval import errors_by_size
from toyworld.train.captioner import build_blip_tokenizer
from toyworld.train.captioner_small import SmallObjectCaptionerTrainer, small_word_weights
from toyworld.world import ShapesWorld


def test_small_word_weights_mark_a_small_objects_shape_and_colour_only():
    tok = build_blip_tokenizer()
    caption = "a small blue square in the bottom right, a large red circle at the top and a small green star on the left"
    ids = tok([caption], return_tensors="pt").input_ids
    weights = small_word_weights(tok, ids, 3.0)[0]
    heavy = [w for w, x in zip(tok.convert_ids_to_tokens(ids[0]), weights.tolist()) if x == 3.0]
    assert heavy == ["blue", "square", "green", "star"]
    assert set(weights.tolist()) == {1.0, 3.0}


def test_weight_one_gives_the_models_own_loss():
    torch.set_num_threads(1)
    trainer = SmallObjectCaptionerTrainer(seed=0, batch_size=4, vae_frac=0.0, small_weight=1.0)
    trainer.optimise = lambda loss, step: None  # measure only
    batch = trainer.data(0)
    tok = trainer.tokenizer(batch.captions, padding="longest", return_tensors="pt")
    ids = tok.input_ids.clone()
    ids[:, 0] = trainer.tokenizer.bos_token_id
    from toyworld.pixels import normalize

    trainer.model.train()
    torch.manual_seed(0)
    own = trainer.model(
        pixel_values=normalize(batch.images),
        input_ids=ids,
        attention_mask=tok.attention_mask,
        labels=ids.masked_fill(tok.attention_mask == 0, -100),
    ).loss
    torch.manual_seed(0)
    ours = trainer.step(0)["loss"]
    assert ours == pytest.approx(own.item(), rel=1e-4)
    with pytest.raises(ValueError, match="small_weight"):
        SmallObjectCaptionerTrainer(small_weight=0.5, vae_frac=0.0)


class _Echo:
    """A captioner stand-in that writes each scene's true caption, with the first small object's shape
    word replaced."""

    def __init__(self, scenes):
        self.tokenizer = build_blip_tokenizer()
        self.config = type("C", (), {"vision_config": type("V", (), {"image_size": 64})()})()
        self.captions = []
        for scene in scenes:
            cap = scene.caption()
            small = next((o for o in scene.objects if o.size == "small"), None)
            if small is not None:
                other = "circle" if small.shape != "circle" else "square"
                cap = cap.replace(small.phrase(), small.phrase().replace(small.shape, other), 1)
            self.captions.append(cap)
        self.calls = 0

    def parameters(self):
        yield torch.zeros(1)

    def generate(self, pixel_values, **kw):
        out = self.tokenizer(
            self.captions[self.calls : self.calls + len(pixel_values)], padding=True, return_tensors="pt"
        )
        self.calls += len(pixel_values)
        return out.input_ids


def test_errors_by_size_counts_a_misread_small_shape():
    scenes = ShapesWorld(64).batch(5, "test", 0, 12, n_objects=(1, 4)).scenes
    echo = _Echo(scenes)
    out = errors_by_size(echo, echo.tokenizer, n=12, seed=5, batch=12)
    smalls = [s for s in scenes if any(o.size == "small" for o in s.objects)]
    assert out["small.n"] == sum(o.size == "small" for s in scenes for o in s.objects)
    assert out["small.shape"] == pytest.approx(len(smalls) / out["small.n"])
    assert out["large.shape"] == 0 and out["large.missing"] == 0 and out["small.color"] == 0
    assert out["small.wrong"] == out["small.shape"]
