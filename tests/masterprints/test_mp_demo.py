"""The demo's handlers, without a browser: mine with live updates, stop, resume, reset, bad input."""

from __future__ import annotations

import threading

import pytest

from apps.masterprints_demo import CUSTOM, PRESETS, MiningJob, MiningRequest, build, job_for


def _request(**kw):
    base = dict(
        prompts_text="a red circle\na blue square\na green star",
        preset=CUSTOM,
        model="dummy",
        vae="dummy",
        optimizer="cma",
        space="vae_latent",
        evaluations=48,
        seconds=120,
        lr=0.05,
        popsize=8,
        seed=0,
    )
    return MiningRequest(**{**base, **kw})


def test_mine_then_resume_with_a_larger_budget(tmp_path):
    job = MiningJob(tmp_path)
    updates = list(job.mine(_request()))
    status, image, rows, curve = updates[-1]
    assert status.startswith("Done: 48 images scored")
    assert image.shape == (3, 32, 32) and len(rows) == 3
    assert [r[0] for r in rows] == ["a red circle", "a blue square", "a green star"]
    assert all(isinstance(r[4], bool) for r in rows) and curve["evaluations"][-1] == 48
    assert (tmp_path / "master.png").is_file() and job.checkpoint_path.is_file()
    # the same settings with a larger budget continue from the checkpoint
    status, _, _, curve = list(job.mine(_request(evaluations=96)))[-1]
    assert status.startswith("Done: 96 images scored") and curve["evaluations"][:6] == [8, 16, 24, 32, 40, 48]
    assert job.reset().startswith("Reset") and not job.checkpoint_path.exists()


def test_stop_then_resume(tmp_path):
    job = MiningJob(tmp_path)
    request = _request(optimizer="adam", space="pixels", evaluations=100_000, seconds=600)
    gen = job.mine(request)
    next(gen)  # started
    threading.Timer(1.0, job.stop).start()
    status, image, rows, curve = list(gen)[-1]
    assert status.startswith("Stopped") and image is not None
    done = curve["evaluations"][-1]
    assert 0 < done < 100_000
    status, _, _, curve = list(
        job.mine(_request(optimizer="adam", space="pixels", evaluations=done + 8, seconds=600))
    )[-1]
    assert (
        status.startswith("Done") and curve["evaluations"][-1] >= done + 8 and curve["evaluations"][0] <= done
    )


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(prompts_text="  \n "), "no prompts"),
        (dict(evaluations=0), "budget must lie in 1"),
        (dict(seconds=0), "time limit"),
        (dict(prompts_text="a red circle\na red circle"), "repeats 1 prompt"),
        (dict(prompts_text="\n".join(f"p{i}" for i in range(10_000))), "more than the limit"),
        (dict(preset="no such preset"), "unknown preset"),
    ],
)
def test_bad_input(kw, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        list(MiningJob(tmp_path).mine(_request(**kw)))


def test_presets_and_blocks():
    assert len(PRESETS["toy: 25 colour-shape classes"]) == 25
    assert _request(preset="toy: 6 red and blue shapes").prompts()[0] == "a red circle"
    key, job = job_for(None)
    assert job_for(key)[1] is job
    demo = build()
    assert demo.title == "CLIPMasterPrints"
