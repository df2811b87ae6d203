"""``workbench kb build|add|search``: knowledge bases of (image, text) pairs from the command line.

    workbench kb build KB_DIR --toy-entities [--views 8] [--clip auto]
    workbench kb build KB_DIR --from-folder IMAGES_DIR           # captions: <stem>.txt or metadata.jsonl
    workbench kb build KB_DIR --from-table pairs.csv --image-column image --text-column text
    workbench kb add KB_DIR --from-folder MORE_IMAGES             # incremental, duplicates skipped
    workbench kb search KB_DIR "a zorvik emblem" -k 5 --target text --filter bucket=unseen

A build that was killed resumes when the same command is run again. The CLIP must be the one that made
the base (checked against the manifest); ``--clip auto`` is the trained toy CLIP, else random weights.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from workbench import argtypes

logger = logging.getLogger(__name__)

__all__ = ["register"]


def _clean_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print knowledge-base and source errors as one ``error:`` line (exit status 1), not a traceback."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        from generators.retrieval.manifest import KnowledgeBaseError  # deferred: PIL, numpy, torch
        from generators.retrieval.sources import SourceError  # deferred: PIL, numpy, torch

        try:
            return fn(args)
        except (KnowledgeBaseError, SourceError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return wrapper


def _add_source_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--toy-entities", action="store_true", help="the toy world's entity catalogue")
    group.add_argument(
        "--from-folder",
        metavar="DIR",
        help="images with <stem>.txt captions or metadata.jsonl / metadata.csv",
    )
    group.add_argument("--from-table", metavar="FILE", help="a CSV or parquet table of (image path, text)")
    p.add_argument(
        "--views", type=int, default=8, help="catalogue views per entity (--toy-entities; default 8)"
    )
    p.add_argument("--catalogue-seed", type=argtypes.seed, default=0, help="catalogue seed (--toy-entities)")
    p.add_argument(
        "--image-column", default="image", help="image path column of --from-table (default image)"
    )
    p.add_argument("--text-column", default="text", help="text column of --from-table (default text)")
    p.add_argument(
        "--chunk-size", type=int, default=256, help="entries embedded and committed together (default 256)"
    )
    p.add_argument(
        "--embed-batch",
        type=argtypes.bounded_int(1, 100_000),
        default=64,
        help="images / captions per CLIP forward pass; under `accelerate launch` the processes share a "
        "chunk's batches (default 64)",
    )
    _add_clip_arg(p)


def _add_clip_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clip",
        default="auto",
        help="CLIP preset, hub id or folder ('auto': the trained toy CLIP, else random weights; 'dummy': random weights)",
    )
    p.add_argument(
        "--device", default=None, help="device (default: accelerate's choice; 'cpu' forces the CPU)"
    )


def _source(args: argparse.Namespace):
    # deferred: PIL, numpy, torch
    from generators.retrieval.sources import FolderSource, TableSource, ToyEntitySource

    if args.toy_entities:
        return ToyEntitySource(args.views, seed=args.catalogue_seed)
    if args.from_folder:
        return FolderSource(args.from_folder)
    return TableSource(args.from_table, image_column=args.image_column, text_column=args.text_column)


def _embedder(args: argparse.Namespace, runtime: Any = None):
    from generators.retrieval.embedder import ClipEmbedder  # deferred: torch, torchmetrics
    from workbench.loading.choice import build_clip  # deferred: numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    model, processor, source = build_clip(args.clip, runtime or Runtime(seed=0, device=args.device))
    name = source if args.clip in ("auto", "dummy") else args.clip
    return ClipEmbedder(model, processor, name=name, batch_size=getattr(args, "embed_batch", 64))


def _progress(done: int, total: int) -> None:
    logger.info("committed %d / %d items", done, total)


@_clean_errors
def cmd_build(args: argparse.Namespace) -> int:
    from generators.retrieval.index import IndexSettings  # deferred: numpy, torch
    from generators.retrieval.knowledge_base import KnowledgeBase  # deferred: PIL, numpy, torch, torchmetrics
    from generators.retrieval.manifest import DedupSettings  # deferred: PIL, numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    near = None if str(args.near_duplicate).lower() == "none" else float(args.near_duplicate)
    with Runtime(seed=0, device=args.device) as runtime:  # under `accelerate launch`: embedding shared
        kb = KnowledgeBase.build(
            args.kb,
            _source(args),
            _embedder(args, runtime),
            chunk_size=args.chunk_size,
            dedup=DedupSettings(near_duplicate=near),
            index=IndexSettings(kind=args.index),
            store_images=not args.no_store_images,
            progress=_progress,
            runtime=runtime,
        )
        if runtime.is_main:
            print(json.dumps(kb.describe(), indent=2))
    return 0


@_clean_errors
def cmd_add(args: argparse.Namespace) -> int:
    from generators.retrieval.knowledge_base import KnowledgeBase  # deferred: PIL, numpy, torch, torchmetrics
    from workbench.runtime import Runtime  # deferred: numpy, torch

    with Runtime(seed=0, device=args.device) as runtime:  # under `accelerate launch`: embedding shared
        kb = KnowledgeBase.open(args.kb, _embedder(args, runtime))
        kb.runtime = runtime
        result = kb.add(_source(args), chunk_size=args.chunk_size, progress=_progress)
        if not runtime.is_main:
            return 0
    print(
        json.dumps(
            {
                "added": result.added,
                "skipped_exact": result.skipped_exact,
                "skipped_near": result.skipped_near,
                "entries": len(kb),
            }
        )
    )
    return 0


def _filters(items: list[str] | None) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for text in items or []:
        if "=" not in text:
            raise SystemExit(
                f"error: --filter {text!r} must look like key=value (e.g. --filter bucket=unseen)"
            )
        key, raw = text.split("=", 1)
        value = yaml.safe_load(raw)
        out[key.strip()] = value
    return out


@_clean_errors
def cmd_search(args: argparse.Namespace) -> int:
    from generators.retrieval.index import IndexSettings  # deferred: numpy, torch
    from generators.retrieval.knowledge_base import KnowledgeBase  # deferred: PIL, numpy, torch, torchmetrics

    kb = KnowledgeBase.open(
        args.kb, _embedder(args), index=IndexSettings(kind=args.index) if args.index else None
    )
    hits = kb.search([args.query], k=args.k, target=args.target, filters=_filters(args.filter))[0]
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2))
        return 0
    for rank, h in enumerate(hits, 1):
        meta = ", ".join(f"{k}={v}" for k, v in h.meta.items() if k != "box")
        print(f"{rank:3d}  {h.score:+.4f}  #{h.id:<6d} {h.text}  [{meta}]  {h.image}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``kb build|add|search`` to the ``workbench`` command."""
    kb = subparsers.add_parser(
        "kb",
        help="build, extend and search knowledge bases of (image, text) pairs for retrieval-augmented generation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)

    p = sub.add_parser("build", help="create a knowledge base from a source (resumes a killed build)")
    p.add_argument("kb", metavar="KB_DIR")
    _add_source_args(p)
    p.add_argument(
        "--index",
        default="exact",
        choices=["exact", "flat", "ivf", "hnsw"],
        help="search index (default exact)",
    )
    p.add_argument(
        "--near-duplicate", default="0.995", help="near-duplicate cosine threshold, or 'none' (default 0.995)"
    )
    p.add_argument(
        "--no-store-images", action="store_true", help="keep image paths instead of copying the images"
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("add", help="add a source's items to a knowledge base (duplicates skipped)")
    p.add_argument("kb", metavar="KB_DIR")
    _add_source_args(p)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("search", help="the k nearest entries of a text query")
    p.add_argument("kb", metavar="KB_DIR")
    p.add_argument("query", help="the query text")
    p.add_argument("-k", type=argtypes.bounded_int(1, 10_000), default=5, help="neighbours (default 5)")
    p.add_argument(
        "--target",
        default="image",
        choices=["image", "text", "bm25"],
        help="text-to-image (default), text-to-text by CLIP embeddings, or text-to-text by BM25 on the words",
    )
    p.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="metadata filter (repeatable; a YAML list matches any)",
    )
    p.add_argument(
        "--index",
        default=None,
        choices=["exact", "flat", "ivf", "hnsw"],
        help="search index (default: the base's)",
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    _add_clip_arg(p)
    p.set_defaults(func=cmd_search)
