import pytest
import torch

from toyworld.train.loop import run_training
from toyworld.train.registry import TRAINERS


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.module.state_dict().items()}


def _trainer(name):
    trainer = TRAINERS.get(name)(seed=3, batch_size=4)
    trainer.evaluate = lambda: {}
    return trainer


@pytest.mark.parametrize(
    "name",
    ["judge", "vae", "vae-ft", "clip", "captioner", "captioner-small", "unet", "unet-hires", "unet-ref"],
)
def test_toy_training_resumes_exactly(tmp_path, name):
    """Two steps, a checkpoint, a new process's trainer, one step: the weights of three straight steps
    (the UNet's third step re-encodes the batch it shares with the second: the cache is rebuilt)."""
    torch.set_num_threads(1)
    straight = _trainer(name)
    run_training(straight, tmp_path / "a", max_steps=3, eval_every=10**6)

    run_training(_trainer(name), tmp_path / "b", max_steps=2, eval_every=10**6)
    resumed = _trainer(name)
    result = run_training(resumed, tmp_path / "b", max_steps=3, eval_every=10**6)

    assert result["step"] == 3
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], v) for k, v in _trainer(name).module.state_dict().items())  # it trained
    assert straight.ema.shadow.keys() == resumed.ema.shadow.keys()
    assert all(torch.equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)
    assert not list((tmp_path / "b").glob("*.tmp"))


def _export_info(export_dir, recipe, steps=7):
    import json

    export_dir.mkdir(parents=True)
    (export_dir / "training.json").write_text(json.dumps({"steps": steps, "minutes": 1.0, "recipe": recipe}))


class _Tiny:
    """A trainer with the loop's interface, recording whether it was warm-started."""

    name = "tiny"
    recipe = "r2"

    def __init__(self):
        self.warm = False
        self.w = torch.zeros(1)

    def step(self, step):
        self.w += 1
        return {"loss": 0.0}

    def evaluate(self):
        return {}

    def warm_start(self, export_dir):
        self.warm = True

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w = state["w"]


def test_warm_start_only_from_the_same_recipe(tmp_path):
    _export_info(tmp_path / "same", "r2")
    same = _Tiny()
    result = run_training(
        same, tmp_path / "work-same", max_steps=9, eval_every=10**6, export_dir=tmp_path / "same"
    )
    assert same.warm and result["step"] == 9 and float(same.w) == 2  # continues at step 7

    _export_info(tmp_path / "other", "r1")
    other = _Tiny()
    result = run_training(
        other, tmp_path / "work-other", max_steps=9, eval_every=10**6, export_dir=tmp_path / "other"
    )
    assert not other.warm and result["step"] == 9 and float(other.w) == 9  # from scratch

    _export_info(tmp_path / "older", "r0")
    extends = _Tiny()
    extends.compatible_recipes = ("r0",)  # r2 extends r0: its weights are a start
    run_training(extends, tmp_path / "work-ext", max_steps=9, eval_every=10**6, export_dir=tmp_path / "older")
    assert extends.warm


def test_a_checkpoint_of_another_recipe_is_refused(tmp_path):
    run_training(_Tiny(), tmp_path, max_steps=2, eval_every=10**6)
    newer = _Tiny()
    newer.recipe = "r3"
    with pytest.raises(ValueError, match="recipe 'r2'.*another --work-dir"):
        run_training(newer, tmp_path, max_steps=4, eval_every=10**6)
    assert run_training(_Tiny(), tmp_path, max_steps=4, eval_every=10**6)["step"] == 4  # it is kept
    continues = _Tiny()
    continues.recipe, continues.resumes_recipes = "r3", ("r2",)  # r3 continues r2's checkpoints
    result = run_training(continues, tmp_path, max_steps=6, eval_every=10**6)
    assert result["step"] == 6 and float(continues.w) == 6


def test_unet_warm_starts_from_the_recipe_without_the_pooled_caption(tmp_path):
    """The pooled-caption embedding starts at zero output: same predictions as the exported UNet."""
    from toyworld.train.unet import UNetTrainer

    torch.manual_seed(0)
    older = UNetTrainer(batch_size=2, unet_config={"addition_embed_type": None})
    with torch.no_grad():
        for p in older.unet.parameters():
            p.add_(0.01 * torch.randn_like(p))  # anything but the default initialisation
    older.unet.save_pretrained(tmp_path / "unet")
    trainer = UNetTrainer(batch_size=2)
    trainer.warm_start(tmp_path)
    x, t, text = torch.randn(2, 4, 16, 16), torch.tensor([10, 600]), torch.randn(2, 77, 128)
    with torch.no_grad():
        want = older.unet(x, t, encoder_hidden_states=text).sample
        got = trainer.unet(x, t, encoder_hidden_states=text).sample
    assert trainer.unet.config.addition_embed_type == "text"
    assert torch.allclose(got, want, atol=1e-5)
    trainer.step(0)  # and the new embedding learns
    assert trainer.unet.add_embedding.norm2.weight.abs().sum() > 0


def test_hires_attention_starts_as_the_toy_sd_and_trains_only_the_new_attention():
    from diffusers import UNet2DConditionModel

    from toyworld.train.registry import MODELS_DIR
    from toyworld.train.unet_hires import add_finest_attention

    torch.set_num_threads(1)
    trainer = _trainer("unet-hires")
    base = UNet2DConditionModel.from_pretrained(MODELS_DIR / "sd" / "unet")
    assert trainer.unet.up_blocks[-1].attentions and not getattr(base.up_blocks[-1], "attentions", None)
    x, t, text = torch.randn(2, 4, 16, 16), torch.tensor([10, 600]), torch.randn(2, 77, 128)
    with torch.no_grad():
        assert torch.equal(
            trainer.unet(x, t, encoder_hidden_states=text).sample,
            base(x, t, encoder_hidden_states=text).sample,
        )
    before = _weights(trainer)
    trainer.step(0)
    changed = {k for k, v in trainer.unet.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and changed <= trainer.new_parameters
    assert all(k.startswith("up_blocks.2.attentions.") for k in changed)
    with pytest.raises(ValueError, match="does not fit"):
        add_finest_attention(base, base)  # nothing to add


def test_other_seeds_train_and_export_beside_the_shipped_model():
    from toyworld.cli import seed_suffix

    assert seed_suffix(0) == "" and seed_suffix(1) == "-seed1"


def test_each_trainer_exports_to_the_folder_its_users_load(tmp_path):
    import argparse

    from toyworld.cli import _places
    from toyworld.train.registry import MODELS_DIR

    args = argparse.Namespace(seed=0, work_dir=tmp_path)
    assert _places("unet", args) == (tmp_path / "unet", MODELS_DIR / "sd")
    assert _places("retrieval", args)[1] == MODELS_DIR / "sd-retrieval"
    assert _places("clip", argparse.Namespace(seed=1, work_dir=None))[1] == MODELS_DIR / "clip-seed1"
    assert _places("unet", argparse.Namespace(seed=2, work_dir=tmp_path)) == (
        tmp_path / "unet-seed2",
        MODELS_DIR / "sd-seed2",
    )


def test_unet_trains_its_text_encoder_resumably_and_exports_its_ema(tmp_path):
    """The text encoder learns with the UNet (token states that say where an object is), its weights and
    EMA resume exactly, the pipeline carries the EMA copy; ``text_lr=0`` keeps it frozen."""
    from toyworld.train.unet import UNetTrainer

    torch.set_num_threads(1)

    def text_weights(trainer):
        return {k: v.clone() for k, v in trainer.text_encoder.state_dict().items()}

    straight = _trainer("unet")
    start = text_weights(straight)
    run_training(straight, tmp_path / "a", max_steps=3, eval_every=10**6)
    run_training(_trainer("unet"), tmp_path / "b", max_steps=2, eval_every=10**6)
    resumed = _trainer("unet")
    run_training(resumed, tmp_path / "b", max_steps=3, eval_every=10**6)
    a, b = text_weights(straight), text_weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # it trained
    assert all(torch.equal(straight.text_ema.shadow[k], resumed.text_ema.shadow[k]) for k in a)
    pipe_encoder = straight.pipeline().text_encoder
    assert pipe_encoder is not straight.text_encoder
    assert all(torch.equal(v, straight.text_ema.shadow[k]) for k, v in pipe_encoder.state_dict().items())

    frozen = UNetTrainer(seed=3, batch_size=4, text_lr=0.0)
    frozen.evaluate = lambda: {}
    before = text_weights(frozen)
    run_training(frozen, tmp_path / "c", max_steps=1, eval_every=10**6)
    assert all(torch.equal(v, before[k]) for k, v in text_weights(frozen).items())
    assert frozen.text_ema is None and frozen.pipeline().text_encoder is frozen.text_encoder


def test_captioner_vae_roundtrip_replaces_its_share_of_the_batch():
    from toyworld.train.captioner import CaptionerTrainer

    images = torch.rand(16, 3, 64, 64)
    none = CaptionerTrainer(seed=0, batch_size=4, vae_frac=0.0)
    assert none.vae is None and torch.equal(none.vae_roundtrip(images, 5), images)
    half = CaptionerTrainer(seed=0, batch_size=4, vae_frac=0.5)
    out = half.vae_roundtrip(images, 5)
    changed = (out - images).flatten(1).abs().amax(1) > 1e-3  # (16,)
    assert 0 < int(changed.sum()) < 16 and out.shape == images.shape
    assert torch.equal(out[~changed], images[~changed])
    assert torch.equal(out, half.vae_roundtrip(images, 5))  # the step decides: resumes exactly
    with pytest.raises(ValueError, match="vae_frac"):
        CaptionerTrainer(vae_frac=1.5)


def test_cross_image_trainer_trains_the_last_two_decoder_levels_attention_and_exports_a_stock_unet():
    from diffusers.models.attention_processor import AttnProcessor2_0

    from toyworld.train.cross_image import CrossImageAttnProcessor

    torch.set_num_threads(1)
    trainer = _trainer("unet-ref")
    crossing = {k for k, p in trainer.unet.attn_processors.items() if isinstance(p, CrossImageAttnProcessor)}
    assert {k.split(".")[1] for k in crossing} == {"1", "2"}  # 8x8 and 16x16
    assert all(k.endswith("attn1.processor") for k in crossing)
    before = _weights(trainer)
    out = trainer.step(0)
    assert 0 < out["with_views"] <= 1 and trainer.cross.present is None  # cleared after the call
    changed = {k for k, v in trainer.unet.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and changed <= trainer.new_parameters
    assert all(
        k.startswith(("up_blocks.1.attentions.", "up_blocks.2.attentions.")) or ".attn2." in k
        for k in changed
    )
    # the coarse levels read class-worded captions: their cross-attention is trained, nothing else of theirs
    assert any(k.startswith(("down_blocks.", "mid_block.")) for k in changed)
    exported = trainer.ema_unet()
    assert all(isinstance(p, AttnProcessor2_0) for p in exported.attn_processors.values())
