"""Do idle SSE subscribers slow commands down? `python -m bench.sse_idle`.

Measures ChangePrice throughput (wrk, 16 connections) with no subscribers, then with
N idle `/stream/products/{id}` subscribers on other products, in the same run.
Results go to bench/results/sse_idle.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import threading
from pathlib import Path

import httpx

from bench.embedded import TOKEN, _seed
from bench.harness import Report, catalog_server, price_changes


def _hold_streams(url: str, ids: list[str], ready: threading.Event, stop: threading.Event) -> None:
    async def one(client: httpx.AsyncClient, pid: str) -> None:
        async with client.stream("GET", f"/stream/products/{pid}") as response:
            async for _ in response.aiter_bytes():
                if stop.is_set():
                    return

    async def main() -> None:
        limits = httpx.Limits(max_connections=len(ids) + 10)
        async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as client:
            tasks = [asyncio.create_task(one(client, pid)) for pid in ids]
            while True:
                status = (await client.get("/status")).json()
                if status["subscribers"] >= len(ids):
                    break
                await asyncio.sleep(0.1)
            ready.set()
            await asyncio.to_thread(stop.wait)
            for task in tasks:
                task.cancel()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report = Report("sse_idle", meta=vars(args))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        _seed(data, args.products)
        conn = sqlite3.connect(data / "write.db")
        ids = [r[0] for r in conn.execute("SELECT id FROM products ORDER BY sku")]
        conn.close()
        writes = Path(tmp) / "writes.txt"
        writes.write_text("\n".join(ids[: len(ids) // 2]) + "\n")
        watched = ids[len(ids) // 2 :][: args.subscribers]
        # Every subscriber comes from this one address: above the per-client cap.
        streams = str(args.subscribers + 10)
        server = catalog_server(
            data,
            TOKEN,
            {"TANDEM_MAX_STREAMS": streams, "TANDEM_MAX_STREAMS_PER_CLIENT": streams},
        )

        def measure(tag: str) -> dict[str, object]:
            return price_changes(
                server.url, writes, TOKEN, tag=tag, duration=args.duration, runs=args.runs
            )

        try:
            alone = measure("alone")
            ready, stop = threading.Event(), threading.Event()
            holder = threading.Thread(target=_hold_streams, args=(server.url, watched, ready, stop))
            holder.start()
            ready.wait(60)
            watched_run = measure("watched")
            stop.set()
            holder.join(30)
        finally:
            server.stop()
    report.scenarios.update({"no_subscribers": alone, "idle_subscribers": watched_run})
    ratio = float(str(watched_run["requests_per_s"])) / float(str(alone["requests_per_s"]))
    report.row(
        f"ChangePrice with {args.subscribers} idle subscribers",
        f"{watched_run['requests_per_s']:,} cmd/s p99 {watched_run['p99_ms']} ms",
        f"no subscribers {alone['requests_per_s']:,} cmd/s",
        f"{ratio:.2f}",
    )
    print(f"written: {report.write()}")


if __name__ == "__main__":
    main()
