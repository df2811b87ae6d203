"""GLIGEN trained so the boxes matter: position-free captions, open-able gates (with gradients), gate logging,
and the with/without-boxes evaluation's cases."""

from __future__ import annotations

import pytest
import torch

from generators.layout.gligen import gated_unet_from
from generators.layout.gligen.gates import gate_magnitudes, gate_parameters
from generators.layout.train_gligen import GligenTrainer
from toyworld.train.data import step_generator
from toyworld.vocab import POSITION_PHRASES
from workbench.dummy import dummy_sd_pipeline

POSITION_WORDS = {w for p in POSITION_PHRASES.values() for w in p.split()} - {"in", "the", "at", "on"}


def _trainer(**kw):
    kw = {"batch_size": 4, **kw}
    return GligenTrainer(seed=0, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, **kw)


def _has_position(caption: str) -> bool:
    return bool(POSITION_WORDS & set(caption.split()))


def test_caption_modes_follow_their_shares():
    trainer = _trainer(batch_size=64, position_free=1.0, class_words=0.0)
    batch = trainer.data(0)
    free = trainer.captions(batch, step_generator(0, 0, 1))
    assert not any(_has_position(c) for c in free)
    assert free == [s.caption(with_position=False) for s in batch.scenes]  # colours kept
    trainer.position_free, trainer.class_words = 1.0, 1.0
    classes = trainer.captions(batch, step_generator(0, 0, 1))
    assert classes == [s.caption(with_position=False, words="class") for s in batch.scenes]
    trainer.position_free, trainer.class_words = 0.5, 0.0
    mixed = trainer.captions(batch, step_generator(0, 0, 1))
    share = sum(not _has_position(c) for c in mixed) / len(mixed)
    assert 0.3 < share < 0.7  # about half: 64 draws
    trainer.position_free = 0.0
    assert trainer.captions(batch, step_generator(0, 0, 1)) == batch.captions  # the world's, with places


def test_bad_caption_shares_are_refused():
    with pytest.raises(ValueError, match="class_words <= position_free"):
        _trainer(position_free=0.2, class_words=0.5)
    with pytest.raises(ValueError, match="no_words"):
        _trainer(no_words=1.5)


def test_no_words_empties_that_share_of_captions_only():
    trainer = _trainer(batch_size=64, no_words=0.5)
    batch = trainer.data(0)
    caps = trainer.captions(batch, step_generator(0, 0, 1))
    empty = sum(c == "" for c in caps) / len(caps)
    assert 0.3 < empty < 0.7  # about half: 64 draws
    kept = [c for c in caps if c]
    assert (
        all(
            c in {s.caption(), s.caption(with_position=False), s.caption(with_position=False, words="class")}
            for c, s in zip(caps, batch.scenes)
            if c
        )
        and kept
    )
    trainer.no_words = 1.0
    assert all(c == "" for c in trainer.captions(batch, step_generator(0, 0, 1)))
    trainer.no_words = 0.0
    assert all(trainer.captions(batch, step_generator(0, 0, 1)))


def test_gate_magnitudes_are_tanh_of_alpha():
    unet = gated_unet_from(dummy_sd_pipeline(seed=0).unet)
    assert gate_magnitudes(unet) == {
        "gate_attn_mean": 0.0,
        "gate_attn_max": 0.0,
        "gate_ff_mean": 0.0,
        "gate_ff_max": 0.0,
    }
    gates = gate_parameters(unet)
    with torch.no_grad():
        for k, (name, p) in enumerate(gates):
            p.fill_(-0.5 if name.endswith("alpha_attn") else 0.1 * (k + 1))
    mags = gate_magnitudes(unet)
    assert mags["gate_attn_mean"] == pytest.approx(float(torch.tanh(torch.tensor(0.5))))
    ff = [0.1 * (k + 1) for k, (n, _) in enumerate(gates) if n.endswith("alpha_dense")]
    assert mags["gate_ff_max"] == pytest.approx(float(torch.tanh(torch.tensor(max(ff)))))
    with pytest.raises(ValueError, match="no GLIGEN gates"):
        gate_parameters(dummy_sd_pipeline(seed=0).unet)


def test_gates_get_gradients_open_and_are_logged():
    trainer = _trainer(position_free=1.0, class_words=0.2, lr=1e-3, gate_lr=1e-1)
    loss = trainer.loss(trainer.data(0), step_generator(0, 0, 11))
    loss.backward()
    gates = gate_parameters(trainer.unet)
    assert all(p.grad is not None and p.grad.abs() > 0 for _, p in gates)  # closed gates still learn
    trainer.opt.zero_grad(set_to_none=True)
    outs = [trainer.step(s) for s in range(3)]
    assert {"loss", "gate_attn_mean", "gate_attn_max", "gate_ff_mean", "gate_ff_max"} <= set(outs[-1])
    assert outs[-1]["gate_attn_max"] > 0 and outs[-1]["gate_ff_max"] > 0  # the gates opened
    # ... and once open, the fusers' attention behind them learns too
    trainer.loss(trainer.data(3), step_generator(0, 3, 11)).backward()
    attn = [p for n, p in trainer.unet.named_parameters() if ".fuser.attn.to_q." in n]
    assert attn and all(p.grad is not None and p.grad.abs().sum() > 0 for p in attn)
    # the gates learn at their own rate, without weight decay
    groups = trainer.opt.param_groups
    assert groups[1]["weight_decay"] == 0.0 and {id(p) for p in groups[1]["params"]} == {
        id(p) for _, p in gates
    }
    assert groups[1]["lr"] == pytest.approx(100 * groups[0]["lr"])  # gate_lr / lr


def test_evaluate_reports_both_held_out_losses_and_the_gates(tmp_path):
    trainer = _trainer(token_positions=False)  # exported below as a full pipeline folder
    out = trainer.evaluate()
    assert {"val_loss", "val_loss_no_boxes", "gate_attn_mean", "gate_ff_max"} <= set(out)
    # closed gates: the boxes change nothing
    assert out["val_loss"] == pytest.approx(out["val_loss_no_boxes"])
    trainer.export(tmp_path / "card", {"steps": 0, "minutes": 0.0, "metrics": out})
    card = (tmp_path / "card" / "README.md").read_text()
    assert "gate_attn_mean" in card and "without position words" in card


def test_grounding_cases_name_no_places_and_keep_the_boxes():
    from generators.layout.grounding_eval import grounding_cases

    cases = grounding_cases(4, world_seed=7)
    for case in cases:
        assert not _has_position(case.prompt) and len(case.requested) == 2
        assert all(p in case.prompt for p in case.layout.phrases)
        assert [r.box for r in case.requested] == [tuple(b) for b in case.layout.boxes]
        assert all(r.color is not None for r in case.requested)
    classes = grounding_cases(4, world_seed=7, words="class")
    assert [c.layout.boxes for c in classes] == [c.layout.boxes for c in cases]
    assert all(r.color is None for c in classes for r in c.requested)


def test_mean_se_over_seeds():
    from generators.layout.grounding_runs import mean_se

    mean, se = mean_se([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and se == pytest.approx(0.2 / 3**0.5)
    assert mean_se([0.4]) == (0.4, 0.0)


def test_eval_gligen_cli_refuses_a_missing_model(tmp_path, capsys):
    from workbench.cli import main

    assert main(["layout", "eval-gligen", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_train_gligen_cli_refuses_bad_caption_shares(tmp_path, capsys, monkeypatch):
    from generators.layout import train_gligen
    from workbench.cli import main

    monkeypatch.setattr(train_gligen, "load_toy_sd", lambda: dummy_sd_pipeline(seed=0))
    args = ["layout", "train-gligen", "--position-free", "0.1", "--class-words", "0.5", "--steps", "0"]
    assert main([*args, "--work-dir", str(tmp_path), "--no-export", "--fresh"]) == 2
    assert "class_words <= position_free" in capsys.readouterr().err


def _phrase_embeddings(trainer, scene, phrase) -> torch.Tensor:
    return trainer.encode_text([phrase(o) for o in scene.objects])[1]  # (K, D)


@pytest.mark.parametrize("class_phrases", [True, False])
def test_class_word_scenes_are_grounded_by_class_phrases_only_with_the_flag(class_phrases):
    trainer = _trainer(batch_size=8, position_free=0.6, class_words=0.4, class_phrases=class_phrases)
    batch, seen = trainer.data(0), []
    grounding = trainer.grounding

    def spy(b, keep, by_class=None):
        seen.append((by_class, grounding(b, keep, by_class)))
        return seen[-1][1]

    trainer.grounding = spy
    trainer.loss(batch, step_generator(0, 0, 11))
    by_class, out = seen[0]
    g = step_generator(0, 0, 11)
    torch.rand(8, generator=g), torch.rand(8, generator=g)  # the loss's caption and grounding dropout
    captions, drawn = trainer.caption_draws(batch, g)
    assert by_class == drawn
    assert all(
        (c == s.caption(with_position=False, words="class")) == d
        for c, s, d in zip(captions, batch.scenes, drawn)
    )  # the class-word scenes are the ones captioned by class words
    assert by_class is not None and 0 < sum(by_class) < len(by_class)  # both kinds of scene in the batch
    for i, scene in enumerate(batch.scenes):
        k = len(scene.objects)
        got = out["positive_embeddings"][i, :k]  # (K, D)
        full = _phrase_embeddings(trainer, scene, lambda o: o.phrase(with_position=False))
        named = _phrase_embeddings(trainer, scene, lambda o: o.class_phrase(with_position=False))
        want, other = (named, full) if class_phrases and by_class[i] else (full, named)
        assert torch.allclose(got, want, atol=1e-6) and not torch.allclose(got, other, atol=1e-3), i


def test_checkpoint_of_the_other_class_phrases_setting_is_refused_in_one_line():
    plain, named = _trainer(batch_size=1), _trainer(batch_size=1, class_phrases=True)
    with pytest.raises(ValueError, match="resume it with --class-phrases") as with_flag:
        plain.load_state_dict(named.state_dict())
    with pytest.raises(ValueError, match="resume it without --class-phrases") as without_flag:
        named.load_state_dict(plain.state_dict())
    assert "\n" not in str(with_flag.value) and "\n" not in str(without_flag.value)
