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


class _FakeRuntime:
    """Process ``index`` of ``count``: contiguous shares like ``Runtime.shard_indices``; ``gather`` hands
    back what every process made (the test fills ``made``)."""

    def __init__(self, index: int, count: int, made: list) -> None:
        self.index, self.count, self.made = index, count, made

    def shard_indices(self, n: int) -> list[int]:
        per, extra = divmod(n, self.count)
        start = self.index * per + min(self.index, extra)
        return list(range(start, start + per + (self.index < extra)))

    def gather(self, obj: list) -> list:
        self.made.extend(obj)
        return list(self.made)


def test_map_batches_splits_fixed_batches_and_gathers_in_order():
    from workbench.runs.items import batch_bounds, map_batches

    assert batch_bounds(5, 2) == [(0, 2), (2, 4), (4, 5)]
    seen: list[tuple[int, int]] = []

    def compute(start: int, stop: int) -> list[int]:
        seen.append((start, stop))
        return [i * i for i in range(start, stop)]

    one = map_batches(None, 7, 3, compute)
    assert one == [i * i for i in range(7)] and seen == [(0, 3), (3, 6), (6, 7)]
    seen.clear()
    made: list = []
    second = _FakeRuntime(1, 2, made)
    map_batches(second, 7, 3, compute)  # the second process: the last batch
    assert seen == [(6, 7)]
    first = _FakeRuntime(0, 2, made)
    assert map_batches(first, 7, 3, compute) == one  # batches, not items, are shared: same boundaries
    assert seen == [(6, 7), (0, 3), (3, 6)]
    with pytest.raises(ValueError, match="gave 1 results for 2 items"):
        map_batches(None, 2, 2, lambda s, e: [0])
