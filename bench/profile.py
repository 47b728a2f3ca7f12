"""Where the API process spends a scenario's time: py-spy samples it under wrk.

    python -m bench.profile write            # ChangePrice/AdjustStock, 16 connections
    python -m bench.profile stats --products 20000 --seconds 15

Seeds a services deployment (as the suite does), starts one API process at level 3,
runs the scenario's wrk script while `py-spy record` samples the API process, and
writes `bench/results/profile-<scenario>.txt`: the functions with the most samples,
own and cumulative (py-spy's `--format raw` folded stacks, summed here). py-spy needs
(the `bench` extra) and the right to read the process (root here).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench import scenarios
from bench.harness import Process, wrk
from bench.services import TOKEN, ServicesDeployment

RESULTS = Path(__file__).parent / "results"
# Installed with the `bench` extra, beside this interpreter.
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

SCRIPTS = {
    "write": ("write.lua", lambda i: {"BENCH_IDS": str(i.uniform), "BENCH_TOKEN": TOKEN}),
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


def profile(api: Process, seconds: int, out: Path) -> None:
    """`py-spy record` of the API process for `seconds`, folded stacks into `out`."""
    subprocess.run(
        [
            *(PY_SPY, "record", "--pid", str(api.proc.pid), "--duration", str(seconds)),
            *("--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=sorted(SCRIPTS))
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args(argv)
    script, env_of = SCRIPTS[args.scenario]
    with tempfile.TemporaryDirectory(prefix="tandem-profile-") as tmp:
        root = Path(tmp)
        deployment = ServicesDeployment(root)
        try:
            deployment.seed(args.products)
            api = deployment.start_api(3)
            if not deployment.caught_up():
                sys.exit("the projections never caught up")
            inputs = scenarios.Inputs(root, deployment.rows)
            folded = root / "profile.txt"
            sampler = threading.Thread(target=profile, args=(api, args.seconds, folded))
            sampler.start()
            time.sleep(0.5)
            load = wrk(
                api.url,
                connections=16,
                duration=args.seconds - 1,
                script=script,
                env={**env_of(inputs), "BENCH_PREFIX": f"profile-{time.time_ns()}"},
            )
            sampler.join()
            RESULTS.mkdir(exist_ok=True)
            target = RESULTS / f"profile-{args.scenario}.txt"
            header = (
                f"scenario {args.scenario}, {args.products} products, level 3, uvicorn,"
                f" wrk -c16 for {args.seconds - 1} s: {load.requests_per_s:,.0f} req/s,"
                f" p99 {load.p99_ms} ms\n"
            )
            target.write_text(header + summarize(folded))
            print(target.read_text())
        finally:
            deployment.stop_api()
            deployment.close()


if __name__ == "__main__":
    main()
