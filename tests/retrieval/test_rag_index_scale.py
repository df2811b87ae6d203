"""The compressed ``ivfpq`` index, memory-mapped loading, and the search benchmark at its smallest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generators.retrieval.index import FaissIndex, IndexSettings, build_index

ROOT = Path(__file__).resolve().parents[2]


def _clustered(n: int, dim: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(20, dim, generator=g), dim=1)
    x = centres[torch.randint(0, 20, (n,), generator=g)] + 0.5 * torch.randn(n, dim, generator=g) / dim**0.5
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw", "ivfpq"])
def test_saved_index_is_memory_mapped_and_answers_as_built(tmp_path, kind):
    x = _clustered(3000)
    settings = IndexSettings(kind=kind, pq_m=8)
    built = build_index(x, settings)
    built.save(tmp_path / "i.faiss")
    mapped = FaissIndex.load(tmp_path / "i.faiss", settings, 32)
    assert mapped.path == tmp_path / "i.faiss"  # mapped, not read into memory
    assert torch.equal(mapped.search(x[:5], 10)[1], built.search(x[:5], 10)[1])
    allowed = torch.arange(3000) % 3 == 0
    assert bool(allowed[mapped.search(x[:5], 10, allowed)[1]].all())  # filters reach the mapped index
    mapped.add(x[:4])  # adding reads it into memory first
    assert mapped.path is None and len(mapped) == 3004
    unmapped = FaissIndex.load(tmp_path / "i.faiss", settings.model_copy(update={"mmap": False}), 32)
    assert unmapped.path is None and len(unmapped) == 3000


def test_ivfpq_recall_and_compression():
    x = _clustered(4000, dim=64)
    truth = build_index(x, IndexSettings()).search(x[:50], 10)[1]
    index = build_index(x, IndexSettings(kind="ivfpq", nprobe=64))
    found = index.search(x[:50], 10)[1]
    recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth)) / truth.numel()
    assert recall >= 0.9
    bare = build_index(x, IndexSettings(kind="ivfpq", refine="none"))
    assert bare.index.pq.code_size == 64 // 8  # D / 8 bytes per entry without re-ranking codes
    with pytest.raises(ValueError, match="must divide"):
        build_index(x, IndexSettings(kind="ivfpq", pq_m=7))


def test_search_benchmark_at_its_smallest(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_kb_search.py", "--entries", "2000", "--dim", "32", "--queries", "10",
         "--clusters", "20", "--kinds", "flat,ivfpq", "--pq-m", "8", "--threads", "1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {line.split()[1]: line.split() for line in proc.stdout.splitlines() if line.startswith("faiss")}
    assert set(lines) == {"flat", "ivfpq"} and float(lines["flat"][-2]) == 1.0
    assert (tmp_path / "ivfpq.faiss").stat().st_size < (tmp_path / "flat.faiss").stat().st_size
