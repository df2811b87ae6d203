"""The experiments' shared work loop: every item computed once, checkpointed, reloaded on resume, in
item order."""

from __future__ import annotations

import pytest
import torch

from workbench.runs.items import map_items


def test_items_are_computed_once_checkpointed_and_returned_in_order(run_ctx):
    calls: list[int] = []

    def square(i: int):
        calls.append(i)
        return {"x": torch.tensor([i * i])}, {"i": i}

    keys = [f"square/{i:03d}" for i in range(5)]
    first = map_items(run_ctx, keys, square)
    assert [int(t["x"]) for t, _ in first] == [0, 1, 4, 9, 16] and calls == [0, 1, 2, 3, 4]
    run_ctx.checkpoint.path(keys[3]).unlink()  # a run killed before item 3 was saved
    calls.clear()
    again = map_items(run_ctx, keys, square)
    assert calls == [3]
    assert [int(t["x"]) for t, _ in again] == [0, 1, 4, 9, 16]
    assert [m["i"] for _, m in again] == [0, 1, 2, 3, 4]


def test_keys_must_be_unique(run_ctx):
    with pytest.raises(ValueError, match="unique"):
        map_items(run_ctx, ["a", "a"], lambda i: ({}, {}))
