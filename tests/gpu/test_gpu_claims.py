"""The toy world's measured claims rerun on CUDA at full speed (the same thresholds as on the CPU,
``tests/claims/claims.py``). Marker ``gpu``."""

from __future__ import annotations

import pytest

from tests.claims.claims import CLAIMS

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_claim_on_cuda(tmp_path, claim):
    CLAIMS[claim](tmp_path, ["runtime.device=cuda"])
