"""The mixed scenario: the seed's 100:1 read/write mix, paced, with projection lag.

Reads come from wrk (bench/lua/paths.lua) over detail, search and stats paths, each
connection paced so the total aims at `read_rate`. Writes come from this Python driver,
paced at `read_rate / 100`, cycling over a price change, a stock adjustment and an
order (an item added to a new cart, then the checkout). Lag: a follower reads
`/stream/progress`; for every acknowledged write and projection, the time from the
acknowledgement until the projection's checkpoint (as the API process sees it)
reaches the write's version.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx
import orjson

from bench.harness import wrk

PACE_MS = 4  # each read connection waits this long between requests


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


def _writes(
    url: str, token: str, ids: list[str], rate: float, seconds: float, seed: int
) -> tuple[list[tuple[float, int]], int]:
    """Paced writes; (ack time, version) of each success, and the failures."""
    rng = random.Random(seed)
    acks: list[tuple[float, int]] = []
    failures = 0
    headers = {"Authorization": f"Bearer {token}"}

    def price(client: httpx.Client) -> httpx.Response:
        body = {"price": f"{rng.randint(100, 90000) / 100:.2f}"}
        return client.put(f"/products/{rng.choice(ids)}/price", json=body)

    def stock(client: httpx.Client) -> httpx.Response:
        body = {"delta": rng.randint(1, 20), "reason": "restock"}
        return client.post(f"/products/{rng.choice(ids)}/stock-adjustments", json=body)

    def order(client: httpx.Client) -> httpx.Response:
        cart = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        added = client.post(
            f"/carts/{cart}/items", json={"product_id": rng.choice(ids), "quantity": 1}
        )
        if added.status_code >= 300:
            return added
        return client.post(f"/carts/{cart}/checkout")

    kinds: list[Callable[[httpx.Client], httpx.Response]] = [price, stock, order]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            response = kinds[i % len(kinds)](client)
            if response.status_code < 300:
                acks.append((time.perf_counter(), int(response.json()["version"])))
            else:
                failures += 1
    return acks, failures


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


def run(
    url: str,
    token: str,
    ids: list[str],
    paths: Path,
    *,
    read_rate: int,
    seconds: int,
    follow: bool,
) -> dict[str, Any]:
    """Reads (wrk, paced) and writes (this driver, paced) at once, for `seconds`."""
    connections = max(2, read_rate * PACE_MS // 1000)
    write_rate = read_rate / 100
    reached: dict[str, list[tuple[float, int]]] = {}
    stop = threading.Event()
    if follow:
        threading.Thread(target=_follow, args=(url, reached, stop), daemon=True).start()
        time.sleep(0.5)
    out: dict[str, Any] = {}

    def reads() -> None:
        out["reads"] = wrk(
            url,
            connections=connections,
            duration=seconds,
            script="paths.lua",
            env={"BENCH_PATHS": str(paths), "BENCH_DELAY_MS": str(PACE_MS)},
        )

    reader = threading.Thread(target=reads)
    t0 = time.perf_counter()
    reader.start()
    acks, failures = _writes(url, token, ids, write_rate, seconds, seed=5)
    reader.join()
    time.sleep(2 if follow else 0)
    stop.set()
    lag, series = _lags(acks, reached, t0)
    result = out["reads"]
    return {
        "read_rate_target": read_rate,
        "read_connections": connections,
        "reads_per_s": round(result.requests_per_s, 1),
        "read_p50_ms": result.p50_ms,
        "read_p99_ms": result.p99_ms,
        "read_errors": result.errors,
        "loadgen_cpu_share": result.loadgen_cpu_share,
        "write_rate_target": write_rate,
        "writes": len(acks),
        "write_failures": failures,
        "writes_per_s": round(len(acks) / seconds, 1),
        "lag": lag,
        "lag_p99_ms_worst": max((v["p99_ms"] for v in lag.values()), default=None),
        "lag_series": series,
    }
