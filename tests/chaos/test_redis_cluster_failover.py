"""A Redis Cluster master killed under the mixed workload: its replica takes over, and
every check of the chaos runner holds (convergence, read models equal to a fold of the
log, every acknowledged command in the log once, the clients' history consistent, no
5xx but 503 with `Retry-After`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.faults import REDIS_CLUSTER_FAULTS
from tests.chaos.runner import run

pytestmark = [
    pytest.mark.services,
    pytest.mark.chaos,
    pytest.mark.cluster_chaos,
    pytest.mark.timeout(600),
]


def test_a_killed_master_fails_over_with_no_violation(tmp_path: Path) -> None:
    report = run(
        tmp_path, rounds=2, seed_value=5, sessions=3, say=lambda _line: None, redis_cluster=True
    )
    assert set(report.faults) == set(REDIS_CLUSTER_FAULTS)
    assert report.counts.get("commands acknowledged", 0) > 0, report.counts
    assert report.counts.get("reads checked (200)", 0) > 0, report.counts
    assert report.violations == [], report.violations[:20]
    assert len(report.failovers) == 2, report.failovers
    # While a slot had no master, reads that needed it answered 503, not wrong data.
    assert sum(report.failover_503s) > 0, report.failover_503s
