"""The benchmark suite of quality.md: `make bench` (services) and `make bench-embedded`.

`python -m bench.suite --profile services|embedded` seeds the catalog (100,000 products
by default), then, for every separation level the profile has (`TANDEM_LEVEL`; a level
the settings refuse is recorded as not available), runs detail, search, stats, write,
mixed, read-your-write and memory against one API process under `--server` (by default
the ASGI server `tandem serve` runs), and detail under the other server if there is one;
measures the machine's ceilings (raw routes under the same server, redis-benchmark,
pgbench) and the catch-up rate (bench.rebuild on the services profile, the in-process
projections on the embedded one) in the same run, and the `eventsourcing` library as a
peer (bench.peer). Results:
bench/results/suite-<profile>.json, .md and .png; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ceilings, mixed, plots, scenarios
from bench.harness import RESULTS, default_server, load_average, patiently
from bench.table import Table

TOKEN = "bench-admin-token-0123456789-abcdefghijklmnop"


def level_refused(level: int, env: dict[str, str]) -> str | None:
    """Why the settings refuse `level` with this deployment's environment, if they do."""
    from catalog.settings import Settings, SettingsError

    try:
        Settings.from_env({**env, "TANDEM_LEVEL": str(level)})
    except SettingsError as exc:
        return str(exc)
    return None


def servers() -> list[str]:
    """The ASGI servers `tandem serve` offers (uvicorn always)."""
    out = subprocess.run(
        [sys.executable, "-m", "catalog", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    found = ["uvicorn"]
    if "granian" in out:
        try:
            import granian  # noqa: F401

            found.append("granian")
        except ImportError:
            pass
    return found


def measure_level(
    deployment: Any, level: int, inputs: scenarios.Inputs, args: argparse.Namespace
) -> dict[str, Any]:
    api = deployment.start_api(level, args.server)
    out: dict[str, Any] = {"caught_up_before": deployment.caught_up(timeout=300)}
    url, runs, duration = api.url, args.runs, args.duration
    scenarios.warm_up(url, inputs)
    log = _log(f"level {level}")
    out["detail"] = scenarios.detail(url, inputs, runs, duration)
    log("detail", out["detail"])
    out["search"] = scenarios.paths(url, inputs.search, runs, duration, connections=16)
    log("search", out["search"])
    out["stats"] = scenarios.paths(url, inputs.stats, runs, duration, connections=16)
    log("stats", out["stats"])
    out["write"] = scenarios.write(url, inputs, TOKEN, f"l{level}", runs, duration)
    log("write", out["write"])
    out["caught_up_after_write"] = deployment.caught_up(timeout=120)
    out["mixed"] = mixed.run(
        url,
        TOKEN,
        inputs.ids,
        inputs.mixed,
        read_rate=args.read_rate,
        seconds=2 * duration,
        follow=level != 1,
    )
    log("mixed", {k: v for k, v in out["mixed"].items() if k != "lag_series"})
    out["read_your_write"] = scenarios.read_your_write(url, inputs.ids, TOKEN, duration)
    log("read-your-write", out["read_your_write"])
    out["strong_read"] = scenarios.read_your_write(url, inputs.ids, TOKEN, duration, strong=True)
    log("read-your-write, strong", out["strong_read"])
    out["memory"] = scenarios.rss_mb(api.proc.pid)
    log("memory", out["memory"])
    return out


def _log(prefix: str) -> Any:
    def log(name: str, value: dict[str, Any]) -> None:
        shown = {k: v for k, v in value.items() if k != "runs"}
        print(f"[{time.strftime('%H:%M:%S')}] {prefix} {name}: {shown}", flush=True)

    return log


def services_ceilings(
    deployment: Any, inputs: scenarios.Inputs, args: argparse.Namespace
) -> dict[str, Any]:
    from tandem.testing.throwaway import REDIS_URL, create_database, drop_database

    async def prepare(url: str) -> list[str]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(REDIS_URL)
        await client.set(f"{deployment.prefix}:bench:value", b'{"d": "' + b"x" * 1000 + b'"}')
        await client.aclose()
        return await ceilings.migrated_raw_products(url)

    database = patiently(lambda: asyncio.run(create_database("tandem_bench_ceiling")))
    try:
        raw_ids = ceilings.write_ids(asyncio.run(prepare(database.url)), inputs.tmp / "raw.txt")
        env = {
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_REDIS_KEY": f"{deployment.prefix}:bench:value",
            "BENCH_PG_URL": deployment.write_db.url,
            "BENCH_PG_WRITE_URL": database.url,
        }
        out = ceilings.http_ceilings(
            env,
            {
                "fixed_route": ("/fixed", 64, None, {}),
                "redis_get_route": ("/redis-get", 64, None, {}),
                "pg_read_route": ("", 64, "paths.lua", {"BENCH_PATHS": str(inputs.pg_read)}),
                "raw_sql_write_route": (
                    "",
                    16,
                    "raw_price_pg.lua",
                    {"BENCH_IDS": str(raw_ids)},
                ),
            },
            args.runs,
            args.duration,
            args.server,
        )
        out["redis_benchmark_get"] = attempt("redis-benchmark", ceilings.redis_benchmark_get)
        out["pgbench_write"] = attempt(
            "pgbench", lambda: ceilings.pgbench_write(database.url, args.duration)
        )
        return out
    finally:
        patiently(lambda: asyncio.run(drop_database(database)))


def embedded_ceilings(
    deployment: Any, inputs: scenarios.Inputs, args: argparse.Namespace
) -> dict[str, Any]:
    copy = deployment.snapshot(inputs.tmp / "ceiling.db")
    return ceilings.http_ceilings(
        {"BENCH_DB": str(copy)},
        {
            "fixed_route": ("/fixed", 64, None, {}),
            "sqlite_read_route": (
                "",
                64,
                "paths.lua",
                {"BENCH_PATHS": str(inputs.sqlite_read)},
            ),
            "raw_sql_write_route": ("", 16, "raw_price.lua", {"BENCH_IDS": str(inputs.uniform)}),
        },
        args.runs,
        args.duration,
        args.server,
    )


def bus_append(deployment: Any, ids: list[str], seconds: float) -> dict[str, Any]:
    """Our append without HTTP: ChangePrice through the command bus, 16 at a time."""
    import random
    from decimal import Decimal

    from catalog.bootstrap import build_services
    from catalog.domain import commands as c
    from catalog.settings import Settings

    async def run() -> dict[str, Any]:
        catalog = build_services(Settings.from_env({**os.environ, **deployment.env}))
        await catalog.start(projections=False)
        done = [0]
        try:
            end = time.perf_counter() + seconds

            async def worker(n: int) -> None:
                rng = random.Random(n)
                while time.perf_counter() < end:
                    price = Decimal(f"{rng.randint(100, 90000) / 100:.2f}")
                    command = c.ChangePrice(product_id=rng.choice(ids), price=price)
                    await catalog.command_bus.dispatch(command, subject="admin")
                    done[0] += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in range(16)))
            elapsed = time.perf_counter() - started
        finally:
            # Shutting the catalog down is not what is measured: bounded, then left.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(catalog.stop(), 20)
            catalog.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(catalog.aclose(), 20)
        return {"events_per_s": round(done[0] / elapsed), "commands": done[0], "tasks": 16}

    return patiently(lambda: asyncio.run(run()))


def services_catch_up(events: int) -> dict[str, Any]:
    """bench.rebuild's fold of product detail, search and stats, each alone."""
    from bench import rebuild
    from bench.harness import Report

    report = Report("suite-rebuild")
    namespace = argparse.Namespace(
        events=events,
        products=0,
        seed=1,
        projections="product_detail,product_search,category_stats",
        batch_size=None,
        sample=500,
        together=False,
    )
    patiently(lambda: asyncio.run(rebuild.run(namespace, report)), attempts=5)
    alone = report.scenarios.get("alone", {})
    return {
        "events": report.meta.get("events"),
        "load_seconds": report.scenarios.get("load", {}).get("seconds"),
        "events_per_s": {name: v["events_per_s"] for name, v in alone.items()},
    }


def peer(seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.peer", "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "profile": args.profile,
            "products": args.products,
            "duration_s": args.duration,
            "runs": args.runs,
            "read_rate_target": args.read_rate,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average_before": load_average(),
            "api": f"one `tandem serve --server {args.server}` process per level",
            "server": args.server,
            "load_generator": "wrk -t2 on loopback (Lua scripts in bench/lua); mixed: open"
            " loop, wrk with one thread per connection (bench/open_loop.py); Python drivers",
        },
        "levels": {},
    }
    meta = results["meta"]
    meta["servers"] = servers()
    if args.server not in meta["servers"]:
        raise SystemExit(f"`tandem serve --server {args.server}` is not available here")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        deployment: Any
        if args.profile == "services":
            from bench.services import ServicesDeployment

            deployment = ServicesDeployment(tmp)
            meta["processes"] = "1 API + 2 workers, direct PostgreSQL transport"
        else:
            from bench.embedded import EmbeddedDeployment

            deployment = EmbeddedDeployment(tmp)
            meta["processes"] = "1 API process, projections in-process"
        try:
            print(f"[{time.strftime('%H:%M:%S')}] seeding {args.products:,} products", flush=True)
            results["seed"] = deployment.seed(args.products)
            print(f"[{time.strftime('%H:%M:%S')}] seeded: {results['seed']}", flush=True)
            inputs = scenarios.Inputs(tmp, deployment.rows)
            for level in sorted(deployment.levels, reverse=True):
                refused = level_refused(level, deployment.env)
                if refused:
                    results["levels"][str(level)] = {"not_available": refused}
                    print(f"level {level}: not available ({refused})", flush=True)
                    continue
                results["levels"][str(level)] = attempt(
                    f"level {level}", lambda n=level: measure_level(deployment, n, inputs, args)
                )
                if level == 3 and "error" not in results["levels"]["3"]:
                    results["levels"]["3"]["uncached"] = attempt(
                        "answer cache off", lambda: uncached(deployment, inputs, args)
                    )
                others = [s for s in meta["servers"] if s != args.server] if level == 3 else []
                for other in others:
                    results["levels"]["3"][f"detail_{other}"] = attempt(
                        f"detail ({other})",
                        lambda o=other: detail_under(o, deployment, inputs, args),
                    )
                if level == 3 and args.profile == "services":
                    deployment.stop_api()
                    results["bus_append"] = attempt(
                        "bus append", lambda: bus_append(deployment, inputs.ids, args.duration)
                    )
            if args.profile == "services":
                for level in (2,):
                    results["levels"][str(level)] = {
                        "not_applicable": "level 2 (SQLite read models in the write"
                        " transaction) exists on the embedded profile only"
                    }
            deployment.stop_api()
            fn = services_ceilings if args.profile == "services" else embedded_ceilings
            results["ceilings"] = attempt("ceilings", lambda: fn(deployment, inputs, args))
            _log("ceilings")("", {k: _short(v) for k, v in results["ceilings"].items()})
            if args.profile == "embedded":
                results["catch_up"] = attempt("catch-up", lambda: embedded_catch_up(deployment))
        finally:
            deployment.close()
    if args.profile == "services":
        results["catch_up"] = attempt("catch-up", lambda: services_catch_up(args.catch_up_events))
    _log("catch-up")("", results["catch_up"])
    if args.peer:
        results["peer"] = attempt("peer", lambda: peer(args.duration))
        _log("peer")("", results["peer"])
    meta["load_average_after"] = load_average()
    meta["seconds"] = round(time.perf_counter() - started)
    return results


def attempt(name: str, measure: Any) -> dict[str, Any]:
    """`measure()`, or what went wrong: one failing part does not end the run."""
    try:
        result: dict[str, Any] = measure()
        return result
    except Exception as exc:
        text = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]
        print(f"[{time.strftime('%H:%M:%S')}] {name} failed: {error}", flush=True)
        return {"error": error}


def detail_under(
    server: str, deployment: Any, inputs: scenarios.Inputs, args: argparse.Namespace
) -> dict[str, Any]:
    """The detail scenario at level 3 under another ASGI server than the suite's."""
    api = deployment.start_api(3, server)
    deployment.caught_up()
    scenarios.warm_up(api.url, inputs)
    point = scenarios.detail(api.url, inputs, args.runs, args.duration)
    _log("level 3")(f"detail ({server})", point)
    return point


def uncached(deployment: Any, inputs: scenarios.Inputs, args: argparse.Namespace) -> dict[str, Any]:
    """Search and stats at level 3 with the answer cache off (`TANDEM_ANSWER_CACHE=0`):
    what the read models answer by themselves."""
    api = deployment.start_api(3, args.server, {"TANDEM_ANSWER_CACHE": "0"})
    deployment.caught_up()
    scenarios.warm_up(api.url, inputs)
    log = _log("level 3, answer cache off")
    out = {"search": scenarios.paths(api.url, inputs.search, args.runs, args.duration, 16)}
    log("search", out["search"])
    out["stats"] = scenarios.paths(api.url, inputs.stats, args.runs, args.duration, 16)
    log("stats", out["stats"])
    return out


def embedded_catch_up(deployment: Any) -> dict[str, Any]:
    from bench.embedded import catch_up

    return {
        "events": deployment.rows("SELECT MAX(position) FROM tandem_events")[0][0],
        "events_per_s": asyncio.run(catch_up(deployment.data)),
    }


def _short(value: Any) -> Any:
    if isinstance(value, dict) and "requests_per_s" in value:
        return f"{value['requests_per_s']:,.0f}/s p99 {value['p99_ms']} ms"
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=("services", "embedded"), default="services")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per point (median)")
    parser.add_argument("--read-rate", type=int, default=10_000, help="mixed: reads/s offered")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default=default_server(),
        help="ASGI server of the API and of the raw-route ceilings (default: tandem serve's)",
    )
    parser.add_argument(
        "--catch-up-events", type=int, default=200_000, help="services catch-up log size"
    )
    parser.add_argument("--no-peer", dest="peer", action="store_false")
    args = parser.parse_args(argv)
    results = run(args)
    name = f"suite-{args.profile}"
    RESULTS.mkdir(exist_ok=True)
    table = Table.build(results)
    pictures = [
        plots.latency(
            results["levels"], RESULTS / f"{name}-latency.png", f"{name}: latency by level"
        ),
        plots.lag(results["levels"], RESULTS / f"{name}-lag.png", f"{name}: projection lag"),
    ]
    results["plots"] = [p.name for p in pictures if p is not None]
    results["table"] = table.rows
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / f"{name}.md").write_text(table.markdown(name, results["meta"]))
    print()
    print(table.markdown(name, results["meta"]))
    print(f"results: {RESULTS / name}.json, .md, {', '.join(results['plots'])}")


if __name__ == "__main__":
    main()
