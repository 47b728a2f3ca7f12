"""The embedded search's cost, a normal query and a typo'd one, on a seeded catalog.

    python -m bench.typo_search --products 100000 --data /tmp/typo-bench

Seeds the data directory once (the bulk loader, then one catalog start to fold it),
then runs each search straight on the product-search read model's SQLite file, with no
HTTP and no answer cache: `--runs` times each, with the median and the 90th
percentile in milliseconds and what the search found, written to
`bench/results/typo-search.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import time
from pathlib import Path

from bench.harness import save_results
from catalog import seed
from catalog.bootstrap import build, build_embedded
from catalog.read_models.product_search.rules import plan
from catalog.read_models.product_search.sqlite_reads import run_search
from catalog.read_models.queries import SearchProducts
from catalog.seed_bulk import bulk_load_sqlite
from catalog.settings import Settings

QUERIES = ("kettle", "kettel", "electric kettle", "electirc kettel", "shoe", "shoos")


async def _seed(settings: Settings, products: int) -> None:
    empty = build_embedded(settings)  # creates the schema
    empty.close()
    await empty.aclose()
    bulk_load_sqlite(settings.write_database, empty.registry, seed.plan(products, seed=1))
    runtime = build(settings)
    await runtime.start()
    try:
        await runtime.wait_until_caught_up(timeout=3600)
    finally:
        await runtime.stop()
        await runtime.aclose()


def _search_file(data: Path) -> Path:
    """The live copy: the one `product_search.live` names, after a rebuild."""
    live = data / "read" / "product_search.live"
    if live.exists():
        return data / "read" / live.read_text().strip()
    return data / "read" / "product_search.db"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/typo-bench"))
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    settings = Settings.from_env({"TANDEM_DATA_DIR": str(args.data)})
    if not settings.write_database.exists():
        started = time.perf_counter()
        asyncio.run(_seed(settings, args.products))
        took = time.perf_counter() - started
        print(f"seeded and folded {args.products} products in {took:.0f} s")
    conn = sqlite3.connect(_search_file(args.data))
    rows = []
    for q in QUERIES:
        planned = plan(SearchProducts(q=q, limit=20))
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            page = run_search(conn, planned)
            times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "q": q,
                "median_ms": round(statistics.median(times), 2),
                "p90_ms": round(statistics.quantiles(times, n=10)[-1], 2),
                "total": page["total"],
            }
        )
    results = {"products": args.products, "runs": args.runs, "searches": rows}
    lines = [
        f"# typo-search ({args.products:,} products, {args.runs} runs each)",
        "",
        "| q | median ms | p90 ms | found |",
        "|---|---|---|---|",
        *[f"| {r['q']} | {r['median_ms']} | {r['p90_ms']} | {r['total']:,} |" for r in rows],
    ]
    save_results("typo-search", results, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
