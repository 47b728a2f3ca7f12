"""Prometheus metrics: command and query latency, the log head, projection progress.

Latency histograms are fed by the buses' `timing` middleware (by message name and
outcome). Everything about projections is read at scrape time from the same rows as
`/status`, so the two never disagree and nothing is counted twice; so is the progress
of blue/green rebuilds, from the rows `Rebuild.describe()` gives, and the counters of
in-process caches (hits, misses, entries, drops), from the caches themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Commands wait on a database commit, queries often on nothing: buckets from 0.5 ms.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

StatusRows = Callable[[], Sequence[Mapping[str, Any]]]
RebuildRows = Callable[[], Sequence[Mapping[str, Any]]]
CacheRows = Callable[[], list[tuple[str, Any]]]
MemoryRows = Callable[[], list[tuple[str, int | None]]]
"""(name, cache) pairs: anything with `hits`, `misses`, `drops` and a length."""
Reading = Callable[[], int]


class Metrics:
    """One process's registry: bus latencies plus a collector of projection state."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Histogram(
            "tandem_command_seconds",
            "Command handling time, by command and outcome (ok or the error's name).",
            ["command", "outcome"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.queries = Histogram(
            "tandem_query_seconds",
            "Query handling time, waiting for min_version included, by query and outcome.",
            ["query", "outcome"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        # Each (message, outcome)'s histogram, once looked up: `labels` validates and
        # locks at every call, as long as the observation itself (3.7 us).
        self._children: dict[tuple[Histogram, str, str], Histogram] = {}

    def command_observed(self, name: str, outcome: str, seconds: float) -> None:
        self._child(self.commands, name, outcome).observe(seconds)

    def query_observed(self, name: str, outcome: str, seconds: float) -> None:
        self._child(self.queries, name, outcome).observe(seconds)

    def _child(self, histogram: Histogram, name: str, outcome: str) -> Histogram:
        key = (histogram, name, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = histogram.labels(name, outcome)
        return child

    def watch(self, status: StatusRows, head: Reading, appended: Reading) -> None:
        """Report the projections `status()` describes, the log head and the events this
        process appended, at every scrape."""
        self.registry.register(_ProjectionCollector(status, head, appended))

    def watch_rebuilds(self, rebuilds: RebuildRows) -> None:
        """Report blue/green rebuilds (rows of `Rebuild.describe()`) at every scrape."""
        self.registry.register(_RebuildCollector(rebuilds))

    def watch_caches(self, caches: CacheRows) -> None:
        """Report in-process caches (`caches()` names them) at every scrape."""
        self.registry.register(_CacheCollector(caches))

    def watch_memory(self, holders: MemoryRows) -> None:
        """Report what the embedded databases hold in memory (`holders()`: name and
        bytes, None where unknown) at every scrape."""
        self.registry.register(_MemoryCollector(holders))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ProjectionCollector(Collector):
    def __init__(self, status: StatusRows, head: Reading, appended: Reading) -> None:
        self._status = status
        self._head = head
        self._appended = appended

    def collect(self) -> Iterator[Any]:
        head = GaugeMetricFamily("tandem_event_log_head", "Highest position readers can see.")
        head.add_metric([], self._head())
        yield head
        appended = CounterMetricFamily(
            "tandem_events_appended", "Events appended by this process's commands."
        )
        appended.add_metric([], self._appended())
        yield appended
        rows = self._status()
        labels = ["projection"]
        checkpoint = GaugeMetricFamily(
            "tandem_projection_checkpoint", "Position applied by the projection.", labels=labels
        )
        lag_events = GaugeMetricFamily(
            "tandem_projection_lag_events", "Positions between head and checkpoint.", labels=labels
        )
        lag_seconds = GaugeMetricFamily(
            "tandem_projection_lag_seconds",
            "Age of the oldest event not yet applied.",
            labels=labels,
        )
        applied = CounterMetricFamily(
            "tandem_projection_events_applied",
            "Events applied since the runner started.",
            labels=labels,
        )
        letters = GaugeMetricFamily(
            "tandem_projection_dead_letters", "Events parked as dead letters.", labels=labels
        )
        state = GaugeMetricFamily(
            "tandem_projection_state",
            "1 for the projection's current state.",
            labels=["projection", "state"],
        )
        for row in rows:
            name = [str(row["name"])]
            checkpoint.add_metric(name, row["checkpoint"])
            lag_events.add_metric(name, row["lag_events"])
            lag_seconds.add_metric(name, row["lag_seconds"])
            applied.add_metric(name, row["events_applied"])
            letters.add_metric(name, row.get("dead_letters", 0))
            state.add_metric([str(row["name"]), str(row["state"])], 1)
        yield from (checkpoint, lag_events, lag_seconds, applied, letters, state)


class _CacheCollector(Collector):
    def __init__(self, caches: CacheRows) -> None:
        self._caches = caches

    def collect(self) -> Iterator[Any]:
        labels = ["cache"]
        hits = CounterMetricFamily(
            "tandem_cache_hits", "Reads answered from the in-process cache.", labels=labels
        )
        misses = CounterMetricFamily(
            "tandem_cache_misses",
            "Reads the in-process cache could not answer (absent, or older than asked).",
            labels=labels,
        )
        drops = CounterMetricFamily(
            "tandem_cache_drops",
            "Times the cache was emptied and stopped serving until it followed its read"
            " model again.",
            labels=labels,
        )
        entries = GaugeMetricFamily(
            "tandem_cache_entries", "Entries the cache holds now.", labels=labels
        )
        for name, cache in self._caches():
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
            drops.add_metric([name], cache.drops)
            entries.add_metric([name], len(cache))
        yield from (hits, misses, drops, entries)


class _MemoryCollector(Collector):
    def __init__(self, holders: MemoryRows) -> None:
        self._holders = holders

    def collect(self) -> Iterator[Any]:
        held = GaugeMetricFamily(
            "tandem_memory_bytes",
            "Memory held by an embedded database of this process, by its own count"
            " (sqlite: every SQLite connection; duckdb:<file>: one DuckDB file).",
            labels=["holder"],
        )
        for name, size in self._holders():
            if size is not None:
                held.add_metric([name], size)
        yield held


class _RebuildCollector(Collector):
    """One set of series per projection rebuilt since the process started: the latest
    rebuild's progress, kept after it ends so its outcome stays visible."""

    def __init__(self, rebuilds: RebuildRows) -> None:
        self._rebuilds = rebuilds

    def collect(self) -> Iterator[Any]:
        labels = ["projection"]
        checkpoint = GaugeMetricFamily(
            "tandem_rebuild_checkpoint", "Position the new copy has applied.", labels=labels
        )
        head = GaugeMetricFamily(
            "tandem_rebuild_head",
            "Position the new copy must reach before reads switch to it.",
            labels=labels,
        )
        percent = GaugeMetricFamily(
            "tandem_rebuild_percent", "Checkpoint over head, 100 once switched.", labels=labels
        )
        applied = GaugeMetricFamily(
            "tandem_rebuild_events_applied", "Events the new copy has applied.", labels=labels
        )
        rate = GaugeMetricFamily(
            "tandem_rebuild_events_per_second",
            "Events applied per second since the rebuild began.",
            labels=labels,
        )
        running = GaugeMetricFamily(
            "tandem_rebuild_running", "1 while a rebuild runs, else 0.", labels=labels
        )
        state = GaugeMetricFamily(
            "tandem_rebuild_state",
            "1 for the latest rebuild's state (running, switched, cancelled, failed).",
            labels=["projection", "state"],
        )
        for row in self._rebuilds():
            name = [str(row["projection"])]
            checkpoint.add_metric(name, row["checkpoint"])
            head.add_metric(name, row["head"])
            percent.add_metric(name, row["percent"])
            applied.add_metric(name, row["events_applied"])
            rate.add_metric(name, row["events_per_s"])
            running.add_metric(name, 1 if row["state"] == "running" else 0)
            state.add_metric([str(row["projection"]), str(row["state"])], 1)
        yield from (checkpoint, head, percent, applied, rate, running, state)
