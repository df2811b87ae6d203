"""Knowledge-base search at scale: FAISS build time, size on disk, query latency and recall@10 against
exact search, side by side.

    python benchmarks/bench_kb_search.py                       # 100,000 entries, D = 512, 200 queries
    python benchmarks/bench_kb_search.py --n 20000 --kinds flat,ivf
    python benchmarks/bench_kb_search.py --entries 1000000 --dim 768 --kinds ivfpq   # a million CLIP-L/14 entries
    python benchmarks/bench_kb_search.py --kb runs/<run>/kb     # a real base's embeddings, tiled with noise to --n

The base is ``--n`` unit vectors drawn around ``--clusters`` centres (CLIP embeddings of a real collection
are clustered by subject; uniform random vectors are the worst case of approximate search and are
available with ``--clusters 0``). Queries are fresh draws from the same distribution. Each FAISS index is
built, written to disk and loaded back memory-mapped (as a knowledge base loads its cached index; the
resident memory it adds on loading is reported), then answers the same queries one at a time through
:mod:`generators.retrieval.index` (the code the knowledge base uses); recall@10 is the fraction of the
exact top 10 (torch, over every entry) that the index returns. Targets (``--target-*``): median latency
< 20 ms, recall@10 >= 0.9, an index < 2 GB on disk built in < 15 minutes, at 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from generators.retrieval.index import FaissIndex, IndexSettings, build_index


def synthetic(
    n: int, dim: int, clusters: int, spread: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors `(n, dim)` around ``clusters`` random centres, and the centres."""
    if clusters <= 0:
        return F.normalize(torch.randn(n, dim, generator=generator), dim=1), torch.zeros(0, dim)
    centres = F.normalize(torch.randn(clusters, dim, generator=generator), dim=1)  # (C, D)
    owner = torch.randint(0, clusters, (n,), generator=generator)
    x = centres[owner] + spread * torch.randn(n, dim, generator=generator) / dim**0.5
    return F.normalize(x, dim=1), centres


def from_kb(path: str, n: int, spread: float, generator: torch.Generator) -> torch.Tensor:
    """A real base's image embeddings, tiled to ``n`` rows with small noise."""
    from generators.retrieval.knowledge_base import KnowledgeBase

    base = KnowledgeBase.open(path).image_emb  # (N0, D)
    idx = torch.randint(0, base.shape[0], (n,), generator=generator)
    return F.normalize(
        base[idx] + spread * torch.randn(n, base.shape[1], generator=generator) / base.shape[1] ** 0.5, dim=1
    )


def measure(index, queries: torch.Tensor, k: int) -> tuple[list[float], torch.Tensor]:
    """Per-query latency (ms, one query per call) and the ids `(Q, k)`."""
    index.search(queries[:1], k)  # warm up
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return times, torch.stack(ids)


def resident_mb() -> float:
    """This process's resident memory in MB (Linux; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def build_saved(
    vectors: torch.Tensor, settings: IndexSettings, folder: Path, reuse: bool = False
) -> tuple[FaissIndex, float, int, float]:
    """Build, save and reload an index: ``(loaded index, build seconds, bytes on disk, MB resident on load)``;
    with ``reuse``, an index file already in ``folder`` is loaded instead (build seconds: NaN)."""
    path = folder / f"{settings.kind}.faiss"
    build_s = float("nan")
    if not (reuse and path.is_file()):
        t0 = time.perf_counter()
        index = build_index(vectors, settings)
        build_s = time.perf_counter() - t0
        index.save(path)
        del index
    before = resident_mb()
    loaded = FaissIndex.load(path, settings, vectors.shape[1])
    return loaded, build_s, path.stat().st_size, resident_mb() - before


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", "--entries", dest="n", type=int, default=100_000, help="entries (default 100,000)")
    p.add_argument("--dim", type=int, default=512, help="embedding dimension (default 512, CLIP ViT-B/32)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--clusters", type=int, default=2000, help="subject clusters (0: uniform random vectors)")
    p.add_argument(
        "--spread",
        type=float,
        default=0.75,
        help="within-cluster noise norm (centres have norm 1; 0.75: cosine ~0.8 to the centre)",
    )
    p.add_argument(
        "--kinds",
        default="flat,ivf,hnsw",
        help="FAISS indexes to measure (comma separated; ivfpq: compressed)",
    )
    p.add_argument("--nprobe", type=int, default=32)
    p.add_argument("--nlist", type=int, default=None, help="IVF lists (default sqrt(N))")
    p.add_argument("--ef-search", type=int, default=128)
    p.add_argument("--pq-m", type=int, default=None, help="ivfpq sub-quantisers (default D / 8)")
    p.add_argument("--refine", default="SQ8", help="ivfpq re-ranking codes: SQ8, SQfp16, Flat or none")
    p.add_argument("--refine-factor", type=int, default=24, help="ivfpq candidates re-ranked, x k")
    p.add_argument("--no-mmap", action="store_true", help="read the saved indexes into memory instead")
    p.add_argument("--out", default=None, help="folder for the index files (default: a temporary one)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="load the index files already in --out (built from the same --seed and sizes) instead of building",
    )
    p.add_argument("--target-ms", type=float, default=20.0)
    p.add_argument("--target-recall", type=float, default=0.9)
    p.add_argument("--target-gb", type=float, default=2.0)
    p.add_argument("--target-build-min", type=float, default=15.0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch and FAISS threads")
    p.add_argument("--kb", default=None, help="take the vectors from this knowledge base (tiled to --n)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    if args.kb:
        data = from_kb(args.kb, args.n + args.queries, 0.3, g)
        source = f"knowledge base {args.kb} tiled"
    else:
        data, _ = synthetic(args.n + args.queries, args.dim, args.clusters, args.spread, g)
        source = f"synthetic, {args.clusters} clusters, spread {args.spread}"
    vectors, queries = data[: args.n].contiguous(), data[args.n :].contiguous()
    print(
        f"# {args.n} entries x D={vectors.shape[1]} ({source}); {args.queries} queries one at a time; k={args.k}; {args.threads} thread(s)"
    )

    exact = build_index(vectors, IndexSettings(kind="exact"))
    times, truth = measure(exact, queries, args.k)
    del exact
    raw_bytes = vectors.numel() * 4
    rows = [("exact (torch)", 0.0, raw_bytes, 0.0, times, 1.0)]
    folder = Path(args.out or tempfile.mkdtemp(prefix="bench-kb-"))
    folder.mkdir(parents=True, exist_ok=True)
    for kind in [s.strip() for s in args.kinds.split(",") if s.strip()]:
        settings = IndexSettings(
            kind=kind,
            nprobe=args.nprobe,
            nlist=args.nlist,
            ef_search=args.ef_search,
            pq_m=args.pq_m,
            refine=args.refine,
            refine_factor=args.refine_factor,
            mmap=not args.no_mmap,
        )
        index, build_s, size, resident = build_saved(vectors, settings, folder, args.reuse)
        times, ids = measure(index, queries, args.k)
        recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, truth)) / truth.numel()
        rows.append((f"faiss {kind}", build_s, size, resident, times, recall))
        del index
        print(f"# {kind}: built in {build_s:.1f} s, {folder / (kind + '.faiss')}", flush=True)

    print(
        f"{'index':16s} {'build s':>8s} {'disk MB':>8s} {'load MB':>8s} {'p50 ms':>7s} {'p95 ms':>7s} "
        f"{'recall@' + str(args.k):>10s}  targets (< {args.target_ms:g} ms, >= {args.target_recall}, "
        f"< {args.target_gb:g} GB, < {args.target_build_min:g} min)"
    )
    for name, build_s, size, resident, times, recall in rows:
        med, p95 = statistics.median(times), sorted(times)[int(0.95 * (len(times) - 1))]
        ok = (
            med < args.target_ms
            and recall >= args.target_recall
            and size < args.target_gb * 1e9
            and not build_s >= args.target_build_min * 60  # NaN (reused): not measured
        )
        print(
            f"{name:16s} {build_s:8.2f} {size / 1e6:8.1f} {resident:8.1f} {med:7.2f} {p95:7.2f} "
            f"{recall:10.3f}  {'ok' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
