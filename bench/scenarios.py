"""The suite's scenarios against one running API process, and the files they draw from."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx

from bench.harness import median_of, wrk, wrk_median


class Inputs:
    """The id and path lists the load generators draw from, built from the seeded data."""

    def __init__(self, tmp: Path, rows: Any) -> None:
        self.tmp = tmp
        products = rows("SELECT id, name, category_id FROM products WHERE status = 'active'")
        products.sort(key=lambda r: r[0])
        parents = dict(rows("SELECT id, parent_id FROM categories"))
        self.ids = [r[0] for r in products]
        rng = random.Random(3)
        # Zipf over a fixed shuffle of the ids: a few products get most of the reads.
        ranked = list(self.ids)
        rng.shuffle(ranked)
        weights = [1 / (rank + 1) for rank in range(len(ranked))]
        self.zipf_ids = rng.choices(ranked, weights=weights, k=20000)
        self.search_paths = []
        for _, name, category in rng.sample(products, min(500, len(products))):
            terms = [w.lower() for w in re.findall(r"[A-Za-z]{4,}", name)]
            if not terms:
                continue
            if rng.random() < 0.5 and parents.get(category):
                category = parents[category]
            self.search_paths.append(
                f"/products?q={rng.choice(terms)}&category={category}&in_stock=true"
                "&sort=price_asc&consistency=eventual"
            )
        self.stats_paths = [f"/categories/{c}/stats?consistency=eventual" for c in parents]
        self.detail_paths = [f"/products/{i}?consistency=eventual" for i in self.zipf_ids]
        mixed = (
            rng.choices(self.detail_paths, k=700)
            + rng.choices(self.search_paths, k=200)
            + rng.choices(self.stats_paths, k=100)
        )
        self.zipf = _write(tmp / "zipf.txt", self.zipf_ids)
        self.uniform = _write(tmp / "ids.txt", self.ids)
        self.search = _write(tmp / "search.txt", self.search_paths)
        self.stats = _write(tmp / "stats.txt", self.stats_paths)
        self.mixed = _write(tmp / "mixed.txt", mixed)
        self.pg_read = _write(tmp / "pg_read.txt", [f"/pg-read/{i}" for i in self.zipf_ids])
        self.sqlite_read = _write(
            tmp / "sqlite_read.txt", [f"/sqlite-read/{i}" for i in self.zipf_ids]
        )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def warm_up(url: str, inputs: Inputs) -> None:
    """A short unmeasured run over every read path: caches and connections filled."""
    wrk(url, connections=16, duration=1, script="paths.lua", env={"BENCH_PATHS": str(inputs.mixed)})


def detail(url: str, inputs: Inputs, runs: int, duration: int) -> dict[str, Any]:
    """Product pages over the Zipf ids, after an unmeasured run over the same ids: the
    figure is a warm process's, as the other reads' are (the mixed warm-up touches only
    700 product pages)."""
    env = {"BENCH_IDS": str(inputs.zipf)}
    wrk(url, connections=64, duration=max(2, duration), script="detail.lua", env=env)
    return wrk_median(url, runs, connections=64, duration=duration, script="detail.lua", env=env)


def paths(url: str, file: Path, runs: int, duration: int, connections: int) -> dict[str, Any]:
    return wrk_median(
        url,
        runs,
        connections=connections,
        duration=duration,
        script="paths.lua",
        env={"BENCH_PATHS": str(file)},
    )


def write(
    url: str, inputs: Inputs, token: str, tag: str, runs: int, duration: int
) -> dict[str, Any]:
    """ChangePrice and AdjustStock, 16 connections, a fresh Idempotency-Key per request."""
    return median_of(
        [
            wrk(
                url,
                connections=16,
                duration=duration,
                script="write.lua",
                env={
                    "BENCH_IDS": str(inputs.uniform),
                    "BENCH_TOKEN": token,
                    "BENCH_PREFIX": f"{tag}-{i}-{time.time_ns()}",
                },
            )
            for i in range(runs)
        ]
    )


def read_your_write(
    url: str, ids: list[str], token: str, seconds: float, *, strong: bool = False
) -> dict[str, Any]:
    """A price change, then GET of the product with the returned `min_version` (or, with
    `strong`, with `consistency=strong`: from the write database), one client, back to
    back; milliseconds from sending the command to the answer."""
    rng = random.Random(11)
    samples: list[float] = []
    stale = failures = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            product = rng.choice(ids)
            price = f"{rng.randint(100, 90000) / 100:.2f}"
            started = time.perf_counter()
            response = client.put(f"/products/{product}/price", json={"price": price})
            if response.status_code >= 300:
                failures += 1
                continue
            version = response.json()["version"]
            wanted = {"consistency": "strong"} if strong else {"min_version": version}
            read = client.get(f"/products/{product}", params=wanted)
            samples.append((time.perf_counter() - started) * 1000)
            if read.status_code != 200 or read.json().get("price") != price:
                stale += 1
    cuts = quantiles(samples, n=100) if len(samples) >= 2 else [float("nan")] * 99
    return {
        "samples": len(samples),
        "p50_ms": round(cuts[49], 2),
        "p75_ms": round(cuts[74], 2),
        "p90_ms": round(cuts[89], 2),
        "p99_ms": round(cuts[98], 2),
        "stale_reads": stale,
        "failures": failures,
    }


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process and its children (MB): now and peak."""
    now = peak = 0.0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        now += int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        peak += int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    return {"rss_mb": round(now, 1), "peak_rss_mb": round(peak, 1)}


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(c) for c in found]
    for child in list(out):
        out += _children(child)
    return out
