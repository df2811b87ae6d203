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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from workbench.runs.context import RunContext

__all__ = ["ItemResult", "map_items"]

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
