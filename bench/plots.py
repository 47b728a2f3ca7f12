"""PNG plots of a suite run: latency percentiles per scenario and level, and
projection lag over time in the mixed scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PERCENTILES = ("p50_ms", "p75_ms", "p90_ms", "p99_ms")
SCENARIOS = ("detail", "search", "stats", "write", "mixed", "read_your_write")


def latency(levels: dict[str, dict[str, Any]], target: Path, title: str) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {k: v for k, v in levels.items() if isinstance(v, dict) and "detail" in v}
    if not measured:
        return None
    fig, grid = plt.subplots(2, 3, figsize=(13, 7.5))
    axes = list(grid.flat)
    width = 0.8 / len(measured)
    for ax, scenario in zip(axes, SCENARIOS, strict=True):
        ax.set_title(scenario.replace("_", "-") + (" (reads)" if scenario == "mixed" else ""))
        for i, (level, results) in enumerate(sorted(measured.items())):
            point = results.get(scenario) or {}
            if scenario == "mixed":
                point = {k: point.get(f"read_{k}") for k in ("p50_ms", "p90_ms", "p99_ms")}
            values = [point.get(p) or 0 for p in PERCENTILES]
            xs = [x + i * width for x in range(len(PERCENTILES))]
            ax.bar(xs, values, width, label=f"level {level}")
        ax.set_xticks([x + width * (len(measured) - 1) / 2 for x in range(len(PERCENTILES))])
        ax.set_xticklabels([p.removesuffix("_ms") for p in PERCENTILES])
        ax.set_ylabel("ms")
        ax.set_yscale("log")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(target, dpi=90)
    plt.close(fig)
    return target


def lag(levels: dict[str, dict[str, Any]], target: Path, title: str) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        (level, name): points
        for level, results in sorted(levels.items())
        if isinstance(results, dict)
        for name, points in (results.get("mixed") or {}).get("lag_series", {}).items()
    }
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for (level, name), points in sorted(series.items()):
        ax.plot(
            [t for t, _ in points], [ms for _, ms in points], ".", ms=3, label=f"L{level} {name}"
        )
    ax.set_xlabel("seconds into the mixed scenario (write acknowledged at)")
    ax.set_ylabel("projection lag, ms")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(target, dpi=90)
    plt.close(fig)
    return target
