"""A knowledge-base build that kills itself (SIGKILL) when it reaches item ``KILL_AT``:
``python -m tests.retrieval.kill_build KB_DIR``. Used by the kill-and-resume test."""

from __future__ import annotations

import os
import signal
import sys

from generators.retrieval import ClipEmbedder, KnowledgeBase, ToyEntitySource
from tests.retrieval.conftest import ENTITIES
from workbench.dummy import dummy_clip

KILL_AT = 5
CHUNK = 2


class KilledSource(ToyEntitySource):
    def item(self, index):
        if index == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().item(index)


if __name__ == "__main__":
    source = KilledSource(views_per_entity=2, entities=ENTITIES)
    KnowledgeBase.build(
        sys.argv[1], source, ClipEmbedder(*dummy_clip(seed=0), name="dummy-clip"), chunk_size=CHUNK
    )
