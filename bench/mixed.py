"""The mixed scenario: the seed's 100:1 read/write mix, open loop, with projection lag.

Reads come from wrk (bench.open_loop) over detail, search and stats paths, on a fixed
timetable of `read_rate` a second whatever the server does, each measured from the
time it was due. Writes come from this Python driver, also on a timetable
(`read_rate / 100` a second, each sent when due even if earlier ones are unanswered,
measured from its due time), cycling over a price change, a stock adjustment and an
order (an item added to a new cart, then the checkout). Both report what they offered
and what they achieved: a server that cannot keep up shows as the difference and as
latency, not as a lower offered rate. Lag: a follower reads `/stream/progress`; for
every acknowledged write and projection, the time from the acknowledgement until the
projection's checkpoint (as the API process sees it) reaches the write's version.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles
from typing import Any

import aiohttp
import httpx
import orjson

from bench import open_loop
from bench.open_loop import OpenLoopResult


def _follow(url: str, reached: dict[str, list[tuple[float, int]]], stop: threading.Event) -> None:
    try:
        with (
            httpx.Client(timeout=None) as client,
            client.stream("GET", f"{url}/stream/progress") as response,
        ):
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    body = orjson.loads(line[6:])
                    reached.setdefault(body["projection"], []).append(
                        (time.perf_counter(), int(body["checkpoint"]))
                    )
    except httpx.HTTPError:
        return


# A write's answer: its status and, for a success, the version it reports.
Answer = tuple[int, int | None]
Write = Callable[["aiohttp.ClientSession"], Awaitable[Answer]]


@dataclass
class Writes:
    """The write driver's run: (ack time, version) of each success, each write's
    latency from its due time, and how many were due, answered in the window, failed."""

    due: int = 0
    acks: list[tuple[float, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    in_window: int = 0
    failures: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # failures by status (0: none)


async def _answer(response: aiohttp.ClientResponse) -> Answer:
    if response.status >= 300:
        await response.read()
        return response.status, None
    return response.status, int(orjson.loads(await response.read())["version"])


async def _writes(
    url: str, token: str, ids: list[str], rate: float, seconds: float, seed: int
) -> Writes:
    """Writes on a timetable, `rate` a second for `seconds`: each starts when it is due,
    whether or not the ones before it have been answered. aiohttp, not httpx: the driver
    shares the machine's cores with the server, and httpx cost it about twice the CPU
    per request."""
    rng = random.Random(seed)
    out = Writes(due=int(rate * seconds))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def price(client: aiohttp.ClientSession) -> Answer:
        body = orjson.dumps({"price": f"{rng.randint(100, 90000) / 100:.2f}"})
        async with client.put(f"/products/{rng.choice(ids)}/price", data=body) as response:
            return await _answer(response)

    async def stock(client: aiohttp.ClientSession) -> Answer:
        body = orjson.dumps({"delta": rng.randint(1, 20), "reason": "restock"})
        path = f"/products/{rng.choice(ids)}/stock-adjustments"
        async with client.post(path, data=body) as response:
            return await _answer(response)

    async def order(client: aiohttp.ClientSession) -> Answer:
        cart = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = orjson.dumps({"product_id": rng.choice(ids), "quantity": 1})
        async with client.post(f"/carts/{cart}/items", data=body) as response:
            added = await _answer(response)
        if added[0] >= 300:
            return added
        async with client.post(f"/carts/{cart}/checkout") as response:
            return await _answer(response)

    kinds: list[Write] = [price, stock, order]
    # Enough connections for every write in flight in a stall of a few seconds; beyond,
    # a write waits for one, and that wait counts in its latency.
    async with aiohttp.ClientSession(
        base_url=url,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=256),
    ) as client:
        start = time.perf_counter()
        end = start + seconds

        async def one(kind: Write, due: float) -> None:
            try:
                status, version = await kind(client)
            except (aiohttp.ClientError, TimeoutError):
                out.failures += 1
                out.refused[0] = out.refused.get(0, 0) + 1
                return
            acked = time.perf_counter()
            if status >= 300 or version is None:
                out.failures += 1
                out.refused[status] = out.refused.get(status, 0) + 1
                return
            out.acks.append((acked, version))
            out.latencies_ms.append((acked - due) * 1000)
            if acked < end:
                out.in_window += 1

        tasks = []
        for i in range(out.due):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(kinds[i % len(kinds)], due)))
        await asyncio.gather(*tasks)
    return out


def _lags(
    acks: list[tuple[float, int]], reached: dict[str, list[tuple[float, int]]], t0: float
) -> tuple[dict[str, Any], dict[str, list[tuple[float, float]]]]:
    summary: dict[str, Any] = {}
    series: dict[str, list[tuple[float, float]]] = {}
    for name, seen in reached.items():
        samples = []
        for acked_at, version in acks:
            first = next((t for t, checkpoint in seen if checkpoint >= version), None)
            if first is not None:
                lag = max(0.0, first - acked_at) * 1000
                samples.append(lag)
                series.setdefault(name, []).append((round(acked_at - t0, 3), round(lag, 2)))
        if len(samples) >= 2:
            cuts = quantiles(samples, n=100)
            summary[name] = {
                "p50_ms": round(cuts[49], 1),
                "p99_ms": round(cuts[98], 1),
                "samples": len(samples),
            }
    return summary, series


# Seconds of the mix run before the measured window, by default.
WARM_UP_S = 2

# The write driver's seeds, one per run in this process (4 and 5 for the first mix's
# warm-up and window, when it has one): a mix run again on the same deployment (the suite's level 1
# after level 3) would otherwise set the prices it set before, which changes no answer
# and forgets no cached one, and add items to carts it has checked out.
_SEEDS = itertools.count(4)


def run(
    url: str,
    token: str,
    ids: list[str],
    paths: Path,
    *,
    read_rate: int,
    seconds: int,
    follow: bool,
    warm_up: int = WARM_UP_S,
) -> dict[str, Any]:
    """Reads (wrk, open loop) and writes (this driver, open loop) at once, for `seconds`,
    after `warm_up` seconds of the same mix.

    The warm-up measures the move into the mix from whatever ran before (in the suite,
    a write scenario whose thousands of commands left the answer caches to be filled
    again: the mix's first second then held a p99 of 330 ms against 8-13 ms in the
    others). Its reads and writes are reported apart (`warm_up`), so the measured window
    is the mix's steady state and the move into it stays in view.
    """
    warming = None
    if warm_up > 0:
        first = _run(
            url,
            token,
            ids,
            paths,
            read_rate=read_rate,
            seconds=warm_up,
            follow=False,
            seed=next(_SEEDS),
        )
        warming = {
            "seconds": warm_up,
            **{k: first[k] for k in ("reads_per_s", "read_p99_ms", "read_p99_by_second_ms")},
            "write_p99_ms": first["write_p99_ms"],
        }
    out = _run(
        url,
        token,
        ids,
        paths,
        read_rate=read_rate,
        seconds=seconds,
        follow=follow,
        seed=next(_SEEDS),
    )
    out["warm_up"] = warming
    return out


def _run(
    url: str,
    token: str,
    ids: list[str],
    paths: Path,
    *,
    read_rate: int,
    seconds: int,
    follow: bool,
    seed: int,
) -> dict[str, Any]:
    write_rate = read_rate / 100
    reached: dict[str, list[tuple[float, int]]] = {}
    stop = threading.Event()
    if follow:
        threading.Thread(target=_follow, args=(url, reached, stop), daemon=True).start()
        time.sleep(0.5)
    out: dict[str, OpenLoopResult] = {}

    def reads() -> None:
        out["reads"] = open_loop.run(url, rate=read_rate, seconds=seconds, paths=paths)

    reader = threading.Thread(target=reads)
    before = cache_counts(url)
    t0 = time.perf_counter()
    reader.start()
    time.sleep(open_loop.LEAD_S)  # the reads' timetable starts this much after wrk
    writes = asyncio.run(_writes(url, token, ids, write_rate, seconds, seed=seed))
    reader.join()
    time.sleep(2 if follow else 0)
    stop.set()
    lag, series = _lags(writes.acks, reached, t0)
    caches = cache_hit_ratios(before, cache_counts(url))
    r = out["reads"]
    write_cuts = _cuts(writes.latencies_ms)
    return {
        "read_rate_target": read_rate,
        "read_connections": r.connections,
        "reads_offered_per_s": r.offered_per_s,
        "reads_per_s": r.achieved_per_s,
        "read_p50_ms": r.p50_ms,
        "read_p90_ms": r.p90_ms,
        "read_p99_ms": r.p99_ms,
        "read_p999_ms": r.p999_ms,
        "read_max_ms": r.max_ms,
        "read_p99_by_second_ms": r.p99_by_second_ms,
        "read_from_send_p99_ms": r.from_send_p99_ms,
        "read_errors": r.errors,
        "reads_unanswered": r.unanswered,
        "loadgen_cpu_share": r.loadgen_cpu_share,
        "write_rate_target": write_rate,
        "writes_offered_per_s": round(writes.due / seconds, 1),
        "writes_per_s": round(writes.in_window / seconds, 1),
        "writes": len(writes.acks),
        "write_failures": writes.failures,
        "write_failures_by_status": writes.refused,
        "write_p50_ms": write_cuts[0],
        "write_p99_ms": write_cuts[1],
        "lag": lag,
        "lag_p99_ms_worst": max((v["p99_ms"] for v in lag.values()), default=None),
        "lag_series": series,
        "cache_hit_ratio": caches,
    }


def cache_counts(url: str) -> dict[str, tuple[float, float]]:
    """(hits, misses) of each in-process cache of the API process, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, list[float]] = {}
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    for family in text_string_to_metric_families(text):
        if family.name in ("tandem_cache_hits", "tandem_cache_misses"):
            slot = 0 if family.name == "tandem_cache_hits" else 1
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts.setdefault(sample.labels["cache"], [0.0, 0.0])[slot] = sample.value
    return {name: (hits, misses) for name, (hits, misses) in counts.items()}


def cache_hit_ratios(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float | None]:
    """Hits over reads of each cache between two `cache_counts`."""
    ratios: dict[str, float | None] = {}
    for name, (hits, misses) in after.items():
        old_hits, old_misses = before.get(name, (0.0, 0.0))
        reads = hits - old_hits + misses - old_misses
        ratios[name] = round((hits - old_hits) / reads, 3) if reads else None
    return ratios


def _cuts(samples: list[float]) -> tuple[float | None, float | None]:
    """p50 and p99, or None without enough samples."""
    if len(samples) < 2:
        return None, None
    cuts = quantiles(samples, n=100)
    return round(cuts[49], 1), round(cuts[98], 1)
