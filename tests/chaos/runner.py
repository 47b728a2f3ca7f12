"""The chaos runner: faults at random moments under a mixed workload, then checks.

It starts a Redis and a NATS server of its own, fresh PostgreSQL databases, two API
processes behind a failover balancer, two workers and two relays over JetStream
(`OwnServicesDeployment`), seeds a small catalog and runs concurrent client sessions
(`tests.chaos.workload`). Round after round it lets the workload run, injects one fault
(`tests.chaos.faults`) at a random moment, lets the workload run on, then pauses it and
checks:

- the projections converge (every checkpoint at the head, live) within a bound;
- every read model equals a fold of the whole event log into fresh stores (`differences`);
- every acknowledged command's event is in the log, and no command's event is there
  twice (events of each kind between the acknowledged and the issued commands);

and at the end the whole history of the sessions (`tests.support.consistency.check`).
For each worker kill it also records how long the killed worker's leases went without
an owner and how many reads (all at the default `wait_ms`) answered 503 between the
kill and the checks.

`python -m tests.chaos.runner` runs the full version and writes its table to
docs/reliability.md and its figures to tests/chaos/results/chaos.json; the bounded
version runs under pytest (`tests/chaos/test_chaos_run.py`). With `--redis-cluster` the
read models live on a Redis Cluster of the runner's own and the faults are those of a
cluster (`REDIS_CLUSTER_FAULTS`: a master killed, its replica promoted); its table goes to
its own section of docs/reliability.md and to tests/chaos/results/chaos-cluster.json
(bounded: `tests/chaos/test_redis_cluster_failover.py`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.chaos.deployment import OwnServicesDeployment
from tests.chaos.faults import (
    FAULTS,
    NATS_CLUSTER_FAULTS,
    REDIS_CLUSTER_FAULTS,
    kill_redis_master,
    kill_worker,
    patiently,
)
from tests.chaos.workload import Workload, seed
from tests.support.consistency import MODEL, History, Op, check, tally
from tests.support.services_readmodels import differences

PARTITIONS = {"product_detail": 2}
CONVERGE_WITHIN = 90.0
# Command kinds and the event type each acknowledged one appends exactly once.
EVENT_OF = {"price": "PriceChanged", "cart_add": "CartItemAdded", "checkout": "OrderPlaced"}


@dataclass
class Report:
    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    converge_seconds: list[float] = field(default_factory=list)
    events: int = 0
    duration: float = 0.0
    backend_lost: int = 0
    revived: int = 0
    # Per worker kill: seconds until its leases had another owner (inf: not in 15 s),
    # and the reads answered 503 from the kill to the checks.
    takeovers: list[float] = field(default_factory=list)
    kill_503s: list[int] = field(default_factory=list)
    # Per Redis Cluster master kill: seconds until its replica was promoted, and the
    # reads answered 503 from the kill to the checks.
    failovers: list[float] = field(default_factory=list)
    failover_503s: list[int] = field(default_factory=list)

    def takeover_text(self) -> str:
        if not self.takeovers:
            return "not measured"
        slowest = max(self.takeovers)
        return "over 15 s" if math.isinf(slowest) else f"{slowest:.2f} s"

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "duration_seconds": round(self.duration, 1),
            "faults": dict(self.faults),
            "counts": self.counts,
            "events_in_log": self.events,
            "requests_lost_with_a_killed_api_process": self.backend_lost,
            "convergence_seconds_max": round(max(self.converge_seconds, default=0.0), 2),
            "workers_or_relays_that_exited_and_were_restarted": self.revived,
            "reads_answered_503_per_worker_kill": self.kill_503s,
            "worker_takeover_seconds": [
                None if math.isinf(t) else round(t, 3) for t in self.takeovers
            ],
            "worker_takeover_seconds_max": (
                None
                if not self.takeovers or math.isinf(max(self.takeovers))
                else round(max(self.takeovers), 3)
            ),
            **(
                {
                    "redis_failover_seconds": [round(t, 3) for t in self.failovers],
                    "reads_answered_503_per_redis_master_kill": self.failover_503s,
                }
                if self.failovers
                else {}
            ),
            "violations": len(self.violations),
            "violation_samples": self.violations[:50],
        }

    def table(self) -> str:
        rows = [("Fault", "Injected"), *sorted(self.faults.items())]
        lines = ["| Fault | Injected |", "|---|---:|"]
        lines += [f"| {kind} | {n} |" for kind, n in rows[1:]]
        lines += ["", "| Measure | Value |", "|---|---:|"]
        for name, value in self.counts.items():
            lines.append(f"| {name} | {value} |")
        lines.append(f"| events in the log | {self.events} |")
        lines.append(
            "| requests lost with a killed API process (503 from the balancer)"
            f" | {self.backend_lost} |"
        )
        lines.append(f"| workers or relays that exited and were restarted | {self.revived} |")
        if self.kill_503s or not self.failovers:  # a run on a cluster kills no worker
            per_kill = ", ".join(map(str, self.kill_503s)) or "no kill"
            lines.append(f"| reads answered 503 per worker kill (default wait) | {per_kill} |")
            lines.append(
                f"| slowest takeover of a killed worker's leases | {self.takeover_text()} |"
            )
        if self.failovers:
            per_failover = ", ".join(map(str, self.failover_503s))
            lines.append(f"| reads answered 503 per Redis master kill | {per_failover} |")
            lines.append(f"| slowest promotion of a replica | {max(self.failovers):.2f} s |")
        lines.append(
            f"| slowest convergence after a fault | {max(self.converge_seconds, default=0):.1f} s |"
        )
        lines.append(f"| **violations** | **{len(self.violations)}** |")
        return "\n".join(lines)


def _status(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/status", timeout=10).json())


def wait_converged(url: str, timeout: float = CONVERGE_WITHIN) -> tuple[bool, dict[str, Any]]:
    """Until every projection is live at the head (or the timeout)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = _status(url)
        except (httpx.HTTPError, ValueError):
            time.sleep(0.5)
            continue
        projections = status.get("projections", [])
        if projections and all(
            p["checkpoint"] == status["head"] and p["state"] == "live" for p in projections
        ):
            return True, status
        time.sleep(0.3)
    return False, status


async def log_events(url: str) -> list[tuple[int, str]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT position, type FROM tandem_events")
    finally:
        await conn.close()
    return [(int(r["position"]), str(r["type"])) for r in rows]


async def _log_head(url: str) -> int:

    from tandem.db.postgres import create_pool
    from tandem.eventlog.postgres import PostgresEventLog

    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        return await PostgresEventLog(pool).head()
    finally:
        await pool.close()


def check_log(ops: list[Op], events: list[tuple[int, str]]) -> list[str]:
    """Acknowledged commands are in the log; no command's event is there twice."""
    problems: list[str] = []
    types = dict(events)
    for op in ops:
        if op.acknowledged and op.version not in types:
            problems.append(
                f"{op.session} {op.kind} {op.target}: acknowledged at {op.version}, not in the log"
            )
    in_log = Counter(t for _, t in events)
    for kind, event in EVENT_OF.items():
        acked = sum(op.acknowledged for op in ops if op.kind == kind)
        issued = sum(op.acknowledged or op.unknown_outcome for op in ops if op.kind == kind)
        if not acked <= in_log[event] <= issued:
            problems.append(
                f"{event}: {in_log[event]} in the log, {acked} acknowledged, {issued} issued"
            )
    return problems


def reads_answered_503(ops: list[Op], since: float) -> int:
    """Reads that ended after `since` with 503 (the workload reads at the default
    wait, asking for at least what its session saw)."""
    return sum(op.kind in MODEL and op.status == 503 and op.end >= since for op in ops)


def verify(d: OwnServicesDeployment, ops: list[Op], report: Report, label: str) -> None:
    start = time.monotonic()
    report.revived += d.revive()
    converged, status = wait_converged(d.url)
    report.converge_seconds.append(time.monotonic() - start)
    if not converged:
        report.violations.append(f"after {label}: no convergence in {CONVERGE_WITHIN} s: {status}")
        return
    assert d.write_db is not None and d.read_db is not None
    write_url, read_url = d.write_db.url, d.read_db.url
    # The log's head is bounded by the oldest transaction running on the whole server
    # (shared with other databases): compare only once this checker sees the head too.
    deadline = time.monotonic() + CONVERGE_WITHIN
    while patiently(lambda: _log_head(write_url)) < int(status["head"]):
        if time.monotonic() > deadline:
            report.violations.append(f"after {label}: the log's head stays below /status")
            return
        time.sleep(0.5)
    found = patiently(
        lambda: differences(write_url, read_url, d.prefix, PARTITIONS, redis_url=d.redis_url)
    )
    report.violations += [f"after {label}: {p}" for p in found[:20]]
    events = patiently(lambda: log_events(write_url))
    report.events = len(events)
    report.violations += [f"after {label}: {p}" for p in check_log(ops, events)]


def start_workload(d: OwnServicesDeployment, history: History, sessions: int) -> Workload:
    """Start the deployment, seed a small catalog, wait for the projections to catch up
    with it, then start `sessions` client sessions recording into `history`."""
    d.start(timeout=300)
    catalog = seed(d.url, history)
    converged, status = wait_converged(d.url, timeout=300)
    if not converged:
        raise RuntimeError(f"the deployment never caught up before the faults: {status}")
    workload = Workload(d.url, catalog, history, sessions)
    workload.start()
    return workload


def run(
    root: Path,
    *,
    rounds: int,
    seed_value: int = 1,
    sessions: int = 4,
    kinds: list[str] | None = None,
    say: Any = print,
    redis_cluster: bool = False,
    nats_nodes: int = 1,
) -> Report:
    """`rounds` rounds of each fault kind (`kinds`, default all) in a random order; with
    `redis_cluster`, on a Redis Cluster, of the cluster's fault kinds; on one NATS server
    or a cluster of `nats_nodes` (which adds that cluster's faults)."""
    rng = random.Random(seed_value)
    report = Report(seed_value)
    began = time.monotonic()
    faults = REDIS_CLUSTER_FAULTS if redis_cluster else FAULTS
    if nats_nodes > 1:
        faults = {**faults, **NATS_CLUSTER_FAULTS}
    deployment = OwnServicesDeployment(
        root, partitions=PARTITIONS, redis_cluster=redis_cluster, nats_nodes=nats_nodes
    )
    history = History()
    workload: Workload | None = None
    try:
        workload = start_workload(deployment, history, sessions)
        plan = [kind for kind in kinds or list(faults) for _ in range(rounds)]
        rng.shuffle(plan)
        for number, kind in enumerate(plan, 1):
            time.sleep(rng.uniform(0.5, 3.0))
            injected_at = time.monotonic()
            injected = faults[kind](deployment, rng)
            report.faults[kind] += 1
            say(f"[{number}/{len(plan)}] {kind}: {injected.detail}")
            time.sleep(rng.uniform(0.5, 2.5))
            workload.pause()
            if faults[kind] is kill_worker:
                report.kill_503s.append(reads_answered_503(history.ops, injected_at))
                if injected.takeover is not None:
                    report.takeovers.append(injected.takeover)
                say(f"    {report.kill_503s[-1]} reads answered 503 since the kill")
            elif faults[kind] is kill_redis_master:
                report.failover_503s.append(reads_answered_503(history.ops, injected_at))
                report.failovers.append(injected.takeover or 0.0)
                say(f"    {report.failover_503s[-1]} reads answered 503 since the kill")
            before = len(report.violations)
            verify(deployment, history.ops, report, f"{kind} ({injected.detail})")
            say(
                f"    converged in {report.converge_seconds[-1]:.1f} s,"
                f" {len(report.violations) - before} violations, {len(history.ops)} ops so far"
            )
            for problem in report.violations[before : before + 5]:
                say(f"    {problem}")
            workload.resume()
        workload.stop()
        report.violations += workload.errors
        report.violations += check(history.ops)
        report.counts = tally(history.ops)
        if deployment.balancer is not None:
            report.backend_lost = deployment.balancer.app.lost
    finally:
        if workload is not None:
            workload.stop()
        deployment.stop()
    report.duration = time.monotonic() - began
    return report


DOC = Path("docs/reliability.md")
RESULTS = Path("tests/chaos/results/chaos.json")
CLUSTER_RESULTS = Path("tests/chaos/results/chaos-cluster.json")


def write_doc(report: Report, rounds: int, *, cluster: bool = False) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else ""
    marker = "chaos-cluster-results" if cluster else "chaos-results"
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = (
        f"{start}\nLast full run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"seed {report.seed}, {rounds} rounds of each fault kind, "
        f"{report.duration / 60:.1f} minutes.\n\n{report.table()}\n{end}"
    )
    heading = "## Last run on a Redis Cluster\n" if cluster else "## Last full run\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    elif heading in text:  # replaces what the section said before any full run
        text = text[: text.index(heading) + len(heading)] + "\n" + block + "\n"
    else:
        text = text + "\n" + heading + "\n" + block + "\n"
    DOC.write_text(text)
    results = CLUSTER_RESULTS if cluster else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report.as_json(), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="injections of each fault kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    parser.add_argument("--dir", type=Path, help="keep logs and data here (default: a temp dir)")
    parser.add_argument(
        "--faults",
        nargs="+",
        choices=sorted(FAULTS | REDIS_CLUSTER_FAULTS | NATS_CLUSTER_FAULTS),
        help="only these fault kinds (default: all)",
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="on a Redis Cluster, its faults (a master killed)",
    )
    parser.add_argument(
        "--nats-nodes",
        type=int,
        default=1,
        help="run on a NATS cluster of this many nodes, stream and consumers on each"
        " (adds the cluster's faults; the docs keep the one-server run's table)",
    )
    args = parser.parse_args(argv)
    # Stopped from outside: still stop every server and process and drop the databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="tandem-chaos-") as tmp:
        root = args.dir or Path(tmp)
        report = run(
            root,
            rounds=args.rounds,
            seed_value=args.seed,
            sessions=args.sessions,
            kinds=args.faults,
            redis_cluster=args.redis_cluster,
            nats_nodes=args.nats_nodes,
        )
    print(report.table())
    for problem in report.violations[:50]:
        print("VIOLATION", problem)
    if not args.no_write and args.faults is None and args.nats_nodes == 1:
        write_doc(report, args.rounds, cluster=args.redis_cluster)
        print(f"written to {DOC} and {CLUSTER_RESULTS if args.redis_cluster else RESULTS}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
