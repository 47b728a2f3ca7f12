"""Where the API process spends a scenario's time: py-spy samples it under wrk.

    python -m bench.profile write            # ChangePrice/AdjustStock, 16 connections
    python -m bench.profile stats --products 20000 --seconds 15
    python -m bench.profile mixed --products 100000   # the 100:1 mix, open loop
    python -m bench.profile search --profile embedded --setting TANDEM_ANSWER_CACHE=0

Seeds a deployment of either profile (as the suite does), starts one API process at
level 3 (with any `--setting` added to its environment),
runs the scenario's wrk script while `py-spy record` samples the API process, and
writes `bench/results/profile-<scenario>.txt`: the machine's CPU over the run by
command (API, workers, PostgreSQL, Redis, the load generator), then the API's functions
with the most samples, own and cumulative (py-spy's `--format raw` folded stacks,
summed here). py-spy needs (the `bench` extra) and the right to read the process (root
here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench import mixed, scenarios
from bench.embedded import TOKEN as EMBEDDED_TOKEN
from bench.embedded import EmbeddedDeployment
from bench.harness import Process, default_server, wrk
from bench.services import TOKEN, ServicesDeployment

RESULTS = Path(__file__).parent / "results"
# Installed with the `bench` extra, beside this interpreter.
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

SCRIPTS = {
    "write": ("write.lua", lambda i: {"BENCH_IDS": str(i.uniform)}),
    "detail": ("detail.lua", lambda i: {"BENCH_IDS": str(i.zipf)}),
    "stats": ("paths.lua", lambda i: {"BENCH_PATHS": str(i.stats)}),
    "search": ("paths.lua", lambda i: {"BENCH_PATHS": str(i.search)}),
}


def summarize(folded: Path, top: int = 40) -> str:
    """The `top` functions by own and by cumulative samples of a folded-stacks file."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
    lines = [f"{total} samples", "", "own %   function"]
    lines += [f"{100 * n / total:5.1f}   {name}" for name, n in own.most_common(top)]
    lines += ["", "cumul % function"]
    lines += [f"{100 * n / total:5.1f}   {name}" for name, n in cumulative.most_common(top)]
    return "\n".join(lines) + "\n"


CpuReading = dict[int, tuple[str, float]]
# A PostgreSQL backend's title: "postgres: [<cluster>: ]<user> <database> <client>
# <state>" (a throwaway database's random suffix left out); other server processes:
# "postgres: [<cluster>: ]<what it is>".
_BACKEND = re.compile(r"^postgres: (?:\S+: )?\S+ (\S+?)(?:_[0-9a-f]{12})? \S+\(\d+\)")
_SERVER = re.compile(r"^postgres: (?:\S+: )?(.+?)\s*$")


def cpu_seconds() -> CpuReading:
    """CPU seconds used so far by every process of the machine, by pid, with the name
    it is summed under: its command line's first two words (`python -m` names the
    module), or a PostgreSQL backend's database (its title changes with its state)."""
    used: CpuReading = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        title = b" ".join(argv).decode(errors="replace")
        backend, server = _BACKEND.search(title), _SERVER.search(title)
        if backend is not None:
            name = f"postgres backends of {backend.group(1)}"
        elif server is not None:
            name = f"postgres {server.group(1)}"
        else:
            words = [Path(a.decode(errors="replace")).name for a in argv if a][:4]
            if words[:1] and words[0].startswith("python"):
                words = [w for w in words[1:] if w != "-m"][:2]
            name = " ".join(words[:2]) or stat[stat.index("(") + 1 : stat.rindex(")")]
        used[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return used


def cpu_table(before: CpuReading, after: CpuReading, seconds: float) -> str:
    """Cores used per command between two `cpu_seconds` readings."""
    spent: Counter[str] = Counter()
    for pid, (name, used) in after.items():
        spent[name] += used - before.get(pid, (name, 0.0))[1]
    rows = sorted(((v, k) for k, v in spent.items() if v > 0.01 * seconds), reverse=True)
    lines = [f"cores used over {seconds:.0f} s (of {os.cpu_count()}):"]
    lines += [f"{v / seconds:5.2f}   {k}" for v, k in rows]
    lines.append(f"{sum(spent.values()) / seconds:5.2f}   all")
    return "\n".join(lines) + "\n\n"


def cpu_window(after: float, seconds: float, out: list[str]) -> None:
    """`cpu_table` of the `seconds` that start `after` seconds from now (inside the load:
    a process that has ended by the second reading is not in /proc any more)."""
    time.sleep(after)
    before, started = cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    out.append(cpu_table(before, cpu_seconds(), time.perf_counter() - started))


def statements(urls: list[str], seconds: float, out: list[str]) -> None:
    """What the databases at `urls` are busy with: `pg_stat_activity` sampled every
    10 ms for `seconds`, active statements counted by text and what they wait for (each
    sample stands for about 10 ms of one backend)."""
    import asyncpg

    async def sample() -> Counter[str]:
        seen: Counter[str] = Counter()
        conn = await asyncpg.connect(urls[0])
        names = [u.rsplit("/", 1)[-1].split("?")[0] for u in urls]
        try:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                rows = await conn.fetch(
                    "SELECT datname, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q,"
                    " coalesce(wait_event, 'on cpu') AS waiting FROM pg_stat_activity"
                    " WHERE state = 'active' AND datname = ANY($1) AND pid <> pg_backend_pid()",
                    names,
                )
                for row in rows:
                    seen[f"{row['datname'].split('_')[-2]} [{row['waiting']}]: {row['q']}"] += 1
                await asyncio.sleep(0.01)
        finally:
            await conn.close()
        return seen

    seen = asyncio.run(sample())
    total = sum(seen.values()) or 1
    lines = [f"database statements, active in {total} samples of 10 ms over {seconds:.0f} s:"]
    lines += [f"{n:6d}   {q}" for q, n in seen.most_common(15)]
    out.append("\n".join(lines) + "\n\n")


def profile(api: Process, seconds: int, out: Path) -> None:
    """`py-spy record` of the API process for `seconds`, folded stacks into `out`."""
    subprocess.run(
        [
            *(PY_SPY, "record", "--pid", str(api.proc.pid), "--duration", str(seconds)),
            *("--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"),
            # granian runs the application in a worker process of its own.
            "--subprocesses",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=sorted([*SCRIPTS, "mixed"]))
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--read-rate", type=int, default=10_000, help="mixed: reads/s offered")
    parser.add_argument("--folded", type=Path, help="also keep py-spy's folded stacks here")
    parser.add_argument("--profile", choices=("services", "embedded"), default="services")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the API process, e.g. TANDEM_ANSWER_CACHE=0 (repeatable)",
    )
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.setting)
    with tempfile.TemporaryDirectory(prefix="tandem-profile-") as tmp:
        root = Path(tmp)
        deployment: ServicesDeployment | EmbeddedDeployment
        if args.profile == "services":
            deployment, token = ServicesDeployment(root), TOKEN
        else:
            deployment, token = EmbeddedDeployment(root), EMBEDDED_TOKEN
        try:
            deployment.seed(args.products)
            api = deployment.start_api(3, settings=settings)
            if not deployment.caught_up():
                sys.exit("the projections never caught up")
            inputs = scenarios.Inputs(root, deployment.rows)
            scenarios.warm_up(api.url, inputs)
            folded = root / "profile.txt"
            sampler = threading.Thread(target=profile, args=(api, args.seconds, folded))
            cores: list[str] = []
            window = threading.Thread(target=cpu_window, args=(2.0, args.seconds - 4, cores))
            sampler.start()
            window.start()
            if isinstance(deployment, ServicesDeployment):
                urls = [deployment.write_db.url, deployment.read_db.url]
                busy = threading.Thread(target=statements, args=(urls, args.seconds - 4, cores))
                busy.start()
            time.sleep(0.5)
            if args.scenario == "mixed":
                load = mixed.run(
                    api.url,
                    token,
                    inputs.ids,
                    inputs.mixed,
                    read_rate=args.read_rate,
                    seconds=args.seconds - 2,
                    follow=True,
                    warm_up=0,  # py-spy samples the whole window
                )
                measured = (
                    f"{load['reads_per_s']:,.0f} of {load['reads_offered_per_s']:,.0f} reads/s"
                    f" offered, p99 {load['read_p99_ms']} ms; {load['writes_per_s']} of"
                    f" {load['writes_offered_per_s']} writes/s; lag p99 worst"
                    f" {load.get('lag_p99_ms_worst')} ms; cache hits {load.get('cache_hit_ratio')}"
                )
            else:
                script, env_of = SCRIPTS[args.scenario]
                point = wrk(
                    api.url,
                    connections=16,
                    duration=args.seconds - 1,
                    script=script,
                    env={
                        **env_of(inputs),
                        "BENCH_TOKEN": token,
                        "BENCH_PREFIX": f"profile-{time.time_ns()}",
                    },
                )
                measured = f"wrk -c16: {point.requests_per_s:,.0f} req/s, p99 {point.p99_ms} ms"
            sampler.join()
            window.join()
            if isinstance(deployment, ServicesDeployment):
                busy.join()
            RESULTS.mkdir(exist_ok=True)
            name = args.scenario if args.profile == "services" else f"{args.scenario}-embedded"
            target = RESULTS / f"profile-{name}.txt"
            header = (
                f"scenario {args.scenario}, {args.profile}, {args.products:,} products, level 3,"
                f" {default_server()}, settings {settings or 'none'}, {args.seconds} s:"
                f" {measured}\n\n"
            )
            target.write_text(header + "".join(cores) + summarize(folded))
            if args.folded is not None:
                shutil.copyfile(folded, args.folded)
            print(target.read_text())
        finally:
            deployment.stop_api()
            deployment.close()


if __name__ == "__main__":
    main()
