import torch

from workbench.toy.train.judge import JudgeTrainer
from workbench.toy.train.loop import run_training


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_toy_training_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    straight = JudgeTrainer(seed=3, batch_size=4)
    straight.evaluate = lambda: {}
    run_training(straight, tmp_path / "a", max_steps=3, eval_every=10**6)

    first = JudgeTrainer(seed=3, batch_size=4)
    first.evaluate = lambda: {}
    run_training(first, tmp_path / "b", max_steps=2, eval_every=10**6)
    resumed = JudgeTrainer(seed=3, batch_size=4)
    resumed.evaluate = lambda: {}
    result = run_training(resumed, tmp_path / "b", max_steps=3, eval_every=10**6)

    assert result["step"] == 3
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "b").glob("*.tmp"))
