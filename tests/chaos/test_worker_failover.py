"""A SIGKILLed worker's projections are taken over within a second by the worker that
survives, so no read waiting at the default `wait_ms` answers 503 because of the kill."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.chaos.takeover import time_takeover, wait_shared
from tests.chaos.workload import Workload, seed
from tests.support.consistency import MODEL, History
from tests.support.deployment import ServicesDeployment

pytestmark = [pytest.mark.services, pytest.mark.chaos, pytest.mark.timeout(300)]

# Generous: the survivor notices a free lock within a tenth of a second.
TAKEOVER_WITHIN = 1.0


def test_a_killed_workers_share_is_taken_at_once_and_no_read_answers_503(
    tmp_path: Path,
) -> None:
    deployment = ServicesDeployment(
        tmp_path / "data", apis=1, workers=2, partitions={"product_detail": 2}
    )
    deployment.start()
    history = History()
    workload: Workload | None = None
    try:
        assert deployment.write_db is not None
        write_url = deployment.write_db.url
        catalog = seed(deployment.url, history)
        wait_shared(write_url, [worker.pid for worker in deployment.workers])
        workload = Workload(deployment.url, catalog, history, sessions=3)
        workload.start()
        time.sleep(1.0)
        killed_at = time.monotonic()
        took = time_takeover(
            write_url, deployment.workers[0].pid, lambda: deployment.kill_worker(0)
        )
        time.sleep(3.0)  # the workload goes on against the survivor alone
        workload.stop()
        assert took is not None and took < TAKEOVER_WITHIN, took
        reads = [op for op in history.ops if op.kind in MODEL and op.end >= killed_at]
        assert reads
        behind = [(op.kind, op.target, op.min_version) for op in reads if op.status == 503]
        assert behind == [], f"{len(behind)} of {len(reads)} reads answered 503: {behind[:5]}"
        assert all(op.status == 200 for op in reads), {op.status for op in reads}
    finally:
        if workload is not None:
            workload.stop()
        deployment.stop()
