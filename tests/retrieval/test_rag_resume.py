"""A knowledge-base build killed with SIGKILL resumes where its manifest says, and ends equal to a clean build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from generators.retrieval import KnowledgeBase
from generators.retrieval.manifest import read_manifest
from tests.retrieval.kill_build import CHUNK, KILL_AT

ROOT = Path(__file__).resolve().parents[2]


def test_killed_build_resumes(tmp_path, embedder, catalogue, kb):
    folder = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.retrieval.kill_build", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    manifest = read_manifest(folder)
    committed = (KILL_AT // CHUNK) * CHUNK  # the chunk holding item KILL_AT never committed
    progress = manifest.sources[catalogue.source_id]
    assert not progress.done and progress.next_index == committed and manifest.count == committed

    calls = []
    resumed = KnowledgeBase.build(
        folder, catalogue, embedder, chunk_size=CHUNK, progress=lambda d, t: calls.append(d)
    )
    assert calls[0] == committed + CHUNK  # started at the first uncommitted item
    assert read_manifest(folder).sources[catalogue.source_id].done
    # equal to the clean build of the same source
    assert [e["text"] for e in resumed.entries] == [e["text"] for e in kb.entries]
    assert [e["hash"] for e in resumed.entries] == [e["hash"] for e in kb.entries]
    assert torch.allclose(resumed.image_emb, kb.image_emb, atol=1e-6) and torch.allclose(
        resumed.text_emb, kb.text_emb, atol=1e-6
    )
    assert not list(folder.rglob(".*.tmp"))
