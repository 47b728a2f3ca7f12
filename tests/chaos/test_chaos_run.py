"""The bounded chaos run: every fault kind once under a mixed workload, then every
check of the full run (`make test-chaos`): convergence, read models equal to a fold of
the log, every acknowledged command in the log once, and the clients' history keeps
read-your-writes, monotonic reads and visibility, with no 5xx but 503 (with
`Retry-After`) and no hang; a killed worker's leases are taken over."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.chaos.faults import FAULTS
from tests.chaos.runner import run

pytestmark = [pytest.mark.services, pytest.mark.chaos, pytest.mark.timeout(900)]


def test_every_fault_kind_once_leaves_no_violation(tmp_path: Path) -> None:
    report = run(tmp_path, rounds=1, seed_value=3, sessions=3, say=lambda _line: None)
    assert set(report.faults) == set(FAULTS)
    assert report.counts.get("commands acknowledged", 0) > 0, report.counts
    assert report.counts.get("reads checked (200)", 0) > 0, report.counts
    assert report.violations == [], report.violations[:20]
    assert len(report.kill_503s) == report.faults["SIGKILL worker"]
    assert all(math.isfinite(took) for took in report.takeovers), report.takeovers
