"""The experiments' work loop, written once: items sharded over the run's processes, each computed at
most once (checkpointed under its key, reloaded on resume), gathered in item order on every process.

Every experiment has the same skeleton: build its inputs, turn them into work items, :func:`map_items`,
then judge and score the gathered results and write its report sections. Because an item draws its
randomness from keys of its own (``runtime.generator("image", i)``), a resumed, sharded or
single-process run gives the same bytes.

Example:
    >>> import torch
    >>> def square(i):
    ...     return {"x": torch.tensor([i * i])}, {"i": i}
    >>> results = map_items(run_ctx, [f"sq/{i}" for i in range(3)], square)  # doctest: +SKIP
    >>> [int(t["x"]) for t, _ in results]  # doctest: +SKIP
    [0, 1, 4]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

    from workbench.runs.context import RunContext
    from workbench.runtime import Runtime

__all__ = ["ItemResult", "batch_bounds", "map_batches", "map_items"]

T = TypeVar("T")

ItemResult = tuple[dict[str, "torch.Tensor"], dict[str, Any]]


def map_items(
    ctx: RunContext,
    keys: Sequence[str],
    compute: Callable[[int], ItemResult],
    desc: str = "items",
) -> list[ItemResult]:
    """``compute(i)`` for every item ``i`` whose checkpoint ``keys[i]`` is not done, on this process's
    share of the items; each result is checkpointed as it is made.

    Args:
        ctx: the open run.
        keys: one unique checkpoint key per item (``"method/batch-00003"``).
        compute: ``i -> (tensors, meta)``; tensors on the CPU, meta JSON-serialisable.
        desc: the progress bar's label.

    Returns:
        ``(tensors, meta)`` of every item, in item order, on every process.
    """
    if len(set(keys)) != len(keys):
        raise ValueError("work item keys must be unique")
    rt = ctx.runtime
    done: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    with rt.split(list(range(len(keys)))) as mine:
        for i in ctx.progress(mine, desc=desc):
            if ctx.checkpoint.done(keys[i]):
                tensors, meta = ctx.checkpoint.load(keys[i])
            else:
                tensors, meta = compute(i)
                ctx.checkpoint.save(keys[i], tensors, meta)
            done.append((i, tensors, meta))
    gathered = sorted(rt.gather(done), key=lambda item: item[0])
    return [(tensors, meta) for _, tensors, meta in gathered]


def batch_bounds(count: int, batch: int) -> list[tuple[int, int]]:
    """The fixed batches ``[(0, batch), (batch, 2 * batch), ...]`` covering ``count`` items."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return [(s, min(s + batch, count)) for s in range(0, count, batch)]


def map_batches(
    runtime: Runtime | None,
    count: int,
    batch: int,
    compute: Callable[[int, int], Sequence[T]],
) -> list[T]:
    """``compute(start, stop)`` for this process's share of the fixed batches of ``count`` items,
    gathered in item order on every process (no checkpoints: for evaluations that run in one go).

    The batches are the same whatever the number of processes (:func:`batch_bounds`); only which process
    computes each one changes, so a batched model call sees the same inputs under ``accelerate launch
    --num_processes N`` as in one process, and gives the same numbers.

    Args:
        runtime: the run's runtime (``None``: one process, every batch here).
        count: items in all.
        batch: items per batch.
        compute: ``(start, stop) -> one result per item`` of ``range(start, stop)`` (picklable; tensors on
            the CPU).

    Returns:
        the ``count`` per-item results, in item order, on every process.
    """
    bounds = batch_bounds(count, batch)
    owned = range(len(bounds)) if runtime is None else runtime.shard_indices(len(bounds))
    done: list[tuple[int, list[T]]] = []
    for b in owned:
        start, stop = bounds[b]
        results = list(compute(start, stop))
        if len(results) != stop - start:
            raise ValueError(f"compute({start}, {stop}) gave {len(results)} results for {stop - start} items")
        done.append((b, results))
    if runtime is not None:
        done = runtime.gather(done)
    return [item for _, results in sorted(done, key=lambda d: d[0]) for item in results]
