"""The suite's headline table: every figure beside a baseline from the same run, the
ratio, quality.md's target and whether it is met."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = tuple[str, str, str, str, str, str, str]


@dataclass(frozen=True)
class Targets:
    """The read targets of one profile (quality.md)."""

    search: str
    search_rate: float  # searches/s at least (0: none)
    search_over_level1: float
    stats_over_level1: float
    detail_over_raw: float | None  # detail against the raw 1 KB route (None: no target)

    def search_met(self, point: dict[str, Any], level1: dict[str, Any] | None) -> bool:
        return (
            point["p99_ms"] <= 25
            and _rps(point) >= self.search_rate
            and (level1 is None or _rps(point) >= self.search_over_level1 * _rps(level1))
        )


TARGETS = {
    "services": Targets("p99 ≤ 25 ms; ≥ 1,000/s; ≥ 20x level 1", 1000, 20, 50, None),
    "embedded": Targets("p99 ≤ 25 ms; ≥ 10x level 1", 0, 10, 25, 0.8),
}


def _rps(point: dict[str, Any] | None) -> float:
    return float((point or {}).get("requests_per_s") or 0.0)


def _fmt_point(point: dict[str, Any], unit: str = "req/s") -> str:
    return (
        f"{point['requests_per_s']:,.0f} {unit}, p50 {point['p50_ms']} ms,"
        f" p99 {point['p99_ms']} ms (wrk CPU {point['loadgen_cpu_share']:.0%})"
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _hit_ratios(ratios: dict[str, float | None]) -> str:
    shown = [f"{name} {r:.0%}" for name, r in sorted(ratios.items()) if r is not None]
    return f"; cache hits {', '.join(shown)}" if shown else ""


def _warm_up(warm: dict[str, Any] | None) -> str:
    """The mix's warm-up before its measured window, as the row shows it."""
    if not warm:
        return ""
    return (
        f"; in the {warm['seconds']} s warm-up before (from the scenario before):"
        f" {warm['reads_per_s']:,.0f} reads/s, p99 {warm['read_p99_ms']} ms"
    )


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    targets: Targets = TARGETS["services"]

    def add(
        self,
        scenario: str,
        level: str,
        measured: str,
        baseline: str = "-",
        ratio: str = "-",
        target: str = "-",
        met: bool | None = None,
    ) -> None:
        self.rows.append((scenario, level, measured, baseline, ratio, target, _met(met)))

    @classmethod
    def build(cls, results: dict[str, Any]) -> Table:
        table = cls()
        levels: dict[str, Any] = results["levels"]
        ceil: dict[str, Any] = results.get("ceilings", {})
        l3: dict[str, Any] = levels.get("3", {})
        server = results.get("meta", {}).get("server", "uvicorn")
        table.targets = TARGETS[results.get("meta", {}).get("profile", "services")]
        l1: dict[str, Any] | None = levels.get("1") if "detail" in levels.get("1", {}) else None
        for level, value in sorted(levels.items()):
            if "error" in value:
                table.add("all", level, f"failed: {value['error']}")
            elif "not_available" in value:
                table.add("all", level, f"not available: {value['not_available']}")
            elif "not_applicable" in value:
                table.add("all", level, "not applicable on this profile")
        seed = results.get("seed", {})
        table.add(
            "seed",
            "3",
            f"{seed.get('commands', 0):,} commands in {seed.get('seconds')} s"
            f" ({seed.get('commands_per_s', 0):,}/s; {seed.get('method', '')})",
        )
        fixed = ceil.get("fixed_route")
        for name in sorted(ceil):
            value = ceil[name]
            if isinstance(value, dict) and "requests_per_s" in value:
                table.add(f"ceiling: {name.replace('_', ' ')} ({server})", "-", _fmt_point(value))
        if isinstance(ceil.get("redis_benchmark_get"), float):
            table.add("ceiling: redis-benchmark GET, 64 clients", "-",
                      f"{ceil['redis_benchmark_get']:,.0f} req/s")  # fmt: skip
        if "tps" in (ceil.get("pgbench_write") or {}):
            pg = ceil["pgbench_write"]
            table.add("ceiling: pgbench update product + insert event, 16 clients", "-",
                      f"{pg['tps']:,.0f} tx/s, avg {pg['latency_avg_ms']} ms")  # fmt: skip
        for level, value in sorted(levels.items(), reverse=True):
            if "detail" not in value:
                continue
            table._level(level, value, l1, fixed, ceil, level == "3")
        for key, point in sorted(l3.items()):
            if not key.startswith("detail_") or "error" in point:
                continue
            other = key.removeprefix("detail_")
            table.add(f"detail ({other})", "3", _fmt_point(point),
                      f"{server} {_rps(l3.get('detail')):,.0f} req/s",
                      _ratio(_rps(point), _rps(l3.get("detail"))), "≥ 20,000 req/s, p99 ≤ 20 ms",
                      _rps(point) >= 20_000 and point["p99_ms"] <= 20)  # fmt: skip
        table._catch_up(results)
        return table

    def _level(
        self,
        level: str,
        value: dict[str, Any],
        l1: dict[str, Any] | None,
        fixed: dict[str, Any] | None,
        ceil: dict[str, Any],
        headline: bool,
    ) -> None:
        detail, search, stats = value["detail"], value["search"], value["stats"]
        base = l1 if l1 is not None and level != "1" else None
        redis_route = ceil.get("redis_get_route") or ceil.get("sqlite_read_route")
        self.add(
            "detail GET /products/{id}, Zipf, 64 conn",
            level,
            _fmt_point(detail),
            f"level 1 {_rps(base['detail']):,.0f} req/s" if base else "-",
            _ratio(_rps(detail), _rps(base["detail"])) if base else "-",
            "≥ 20,000 req/s, p99 ≤ 20 ms" if headline else "-",
            (_rps(detail) >= 20_000 and detail["p99_ms"] <= 20) if headline else None,
        )
        over_raw = self.targets.detail_over_raw
        if headline and fixed:
            self.add("detail vs raw 1 KB route", level, f"{_rps(detail):,.0f} req/s",
                     f"raw route {_rps(fixed):,.0f} req/s",
                     _ratio(_rps(detail), _rps(fixed)),
                     f"≥ {over_raw}x raw route" if over_raw else "-",
                     _rps(detail) >= over_raw * _rps(fixed) if over_raw else None)  # fmt: skip
        if headline and redis_route:
            self.add("detail vs raw route + one store read", level, f"{_rps(detail):,.0f} req/s",
                     f"raw route + read {_rps(redis_route):,.0f} req/s",
                     _ratio(_rps(detail), _rps(redis_route)))  # fmt: skip
        targets = self.targets
        uncached = value.get("uncached") or {}
        searches = [("", search)]
        if headline:
            searches = [(", answer cache on", search)]
            if "error" in uncached:
                self.add("answer cache off", level, f"failed: {uncached['error']}")
            elif uncached:
                searches.append((", answer cache off", uncached["search"]))
        for label, point in searches:
            self.add(
                f"search q+category+in_stock+sort, 16 conn{label}",
                level,
                _fmt_point(point),
                f"level 1 {_rps(base['search']):,.0f} req/s" if base else "-",
                _ratio(_rps(point), _rps(base["search"])) if base else "-",
                targets.search if headline else "-",
                targets.search_met(point, base["search"] if base else None) if headline else None,
            )
        stat_points = [("", stats)]
        if headline and "stats" in uncached:
            stat_points = [(", answer cache on", stats), (", answer cache off", uncached["stats"])]
        for label, point in stat_points:
            goal = targets.stats_over_level1
            # The stats target is the default deployment's (answer cache on).
            aimed = headline and not label.endswith("off")
            self.add(
                f"stats GET /categories/{{id}}/stats, 16 conn{label}",
                level,
                _fmt_point(point),
                f"level 1 {_rps(base['stats']):,.0f} req/s" if base else "-",
                _ratio(_rps(point), _rps(base["stats"])) if base else "-",
                f"≥ {goal:g}x level 1" if aimed else "-",
                (_rps(point) >= goal * _rps(base["stats"])) if aimed and base else None,
            )
        write, raw = value["write"], ceil.get("raw_sql_write_route")
        self.add(
            "write ChangePrice/AdjustStock + Idempotency-Key, 16 conn",
            level,
            _fmt_point(write, "cmd/s") + f", {write['errors']} errors",
            f"raw SQL route {_rps(raw):,.0f}/s" if raw else "-",
            _ratio(_rps(write), _rps(raw)) if raw else "-",
            "≥ 2,000 cmd/s, p99 ≤ 50 ms, ≥ 0.75x raw route" if headline else "-",
            (
                _rps(write) >= 2000
                and write["p99_ms"] <= 50
                and (raw is None or _rps(write) >= 0.75 * _rps(raw))
            )
            if headline
            else None,
        )
        m = value["mixed"]
        lag = m.get("lag_p99_ms_worst")
        offered = m["reads_offered_per_s"]
        self.add(
            "mixed 100:1, open loop (latency from each request's due time)",
            level,
            f"{m['reads_per_s']:,.0f} of {offered:,.0f} reads/s offered, p99 {m['read_p99_ms']}"
            f" ms; {m['writes_per_s']} of {m['writes_offered_per_s']} writes/s offered, p99"
            f" {m['write_p99_ms']} ms; lag p99 worst {lag if lag is not None else '-'} ms"
            + _hit_ratios(m.get("cache_hit_ratio") or {})
            + _warm_up(m.get("warm_up")),
            f"offered {offered:,.0f} reads/s",
            _ratio(m["reads_per_s"], offered),
            "≥ 10,000 reads/s, read p99 ≤ 25 ms, lag p99 ≤ 100 ms" if headline else "-",
            (
                m["reads_per_s"] >= 10_000
                and m["read_p99_ms"] <= 25
                and lag is not None
                and lag <= 100
            )
            if headline
            else None,
        )
        ryw = value["read_your_write"]
        self.add(
            "read-your-write: command, then GET min_version",
            level,
            f"p50 {ryw['p50_ms']} ms, p99 {ryw['p99_ms']} ms ({ryw['samples']} samples,"
            f" {ryw['stale_reads']} stale)",
            f"level 1 p99 {base['read_your_write']['p99_ms']} ms" if base else "-",
            "-",
            "p99 ≤ 30 ms" if headline else "-",
            ryw["p99_ms"] <= 30 if headline else None,
        )
        strong = value.get("strong_read")
        if strong is not None:
            self.add(
                "read-your-write: command, then GET consistency=strong",
                level,
                f"p50 {strong['p50_ms']} ms, p99 {strong['p99_ms']} ms"
                f" ({strong['samples']} samples, {strong['stale_reads']} stale)",
                f"min_version p99 {ryw['p99_ms']} ms",
                "-",
                "-",
                None,
            )
        mem = value["memory"]
        self.add(
            "memory: API process RSS",
            level,
            f"{mem['rss_mb']} MB (peak {mem['peak_rss_mb']} MB)",
            "-",
            "-",
            "≤ 250 MB" if headline else "-",
            mem["rss_mb"] <= 250 if headline else None,
        )

    def _catch_up(self, results: dict[str, Any]) -> None:
        catch_up = results.get("catch_up") or {}
        if "error" in catch_up:
            self.add("catch-up", "3", f"failed: {catch_up['error']}")
        peer = results.get("peer") or {}
        peer_rate = float((peer.get("catch_up") or {}).get("events_per_s") or 0)
        for name, rate in sorted((catch_up.get("events_per_s") or {}).items()):
            self.add(
                f"catch-up {name} ({catch_up.get('events'):,} events)",
                "3",
                f"{rate:,.0f} events/s",
                f"eventsourcing ProjectionRunner {peer_rate:,.0f} events/s" if peer_rate else "-",
                _ratio(rate, peer_rate) if peer_rate else "-",
                "≥ 25,000 events/s; ≥ 10x eventsourcing",
                rate >= 25_000 and (not peer_rate or rate >= 10 * peer_rate),
            )
        append = float((peer.get("append") or {}).get("events_per_s") or 0)
        ours = results.get("bus_append")
        if ours and append and "error" not in ours:
            self.add(
                "append: ChangePrice via command bus, 16 tasks, no HTTP",
                "3",
                f"{ours['events_per_s']:,} events/s",
                f"eventsourcing Application.save, 16 threads: {append:,.0f} events/s",
                _ratio(ours["events_per_s"], append),
            )
        write = (results["levels"].get("3") or {}).get("write")
        if write and append:
            self.add(
                "append: write scenario over HTTP vs eventsourcing (no HTTP)",
                "3",
                f"{_rps(write):,.0f} cmd/s",
                f"eventsourcing {append:,.0f} events/s",
                _ratio(_rps(write), append),
            )
        if "error" in peer:
            self.add("peer eventsourcing", "-", f"failed: {peer['error']}")

    def markdown(self, name: str, meta: dict[str, Any]) -> str:
        lines = [f"# {name}", ""]
        lines += [f"- {k}: {v}" for k, v in meta.items()]
        lines += [
            "",
            "| scenario | level | measured | baseline (same run) | ratio | target | met? |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"
