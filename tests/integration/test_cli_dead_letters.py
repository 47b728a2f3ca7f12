"""`tandem dead-letters list | retry | skip` on the embedded profile."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.settings import Settings
from tandem.deadletters.sqlite import SqliteDeadLetters


def _tandem(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catalog", "dead-letters", *args],
        env={**os.environ, "TANDEM_DATA_DIR": str(data), "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )


def test_list_retry_and_skip(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def history() -> list[int]:
        cat = build_embedded(Settings(data_dir=data))
        await cat.start()
        try:
            category = await cat.command_bus.dispatch(c.CreateCategory(name="Parked"))
            renamed = await cat.command_bus.dispatch(
                c.RenameCategory(category_id=category.id, name="Parked again")
            )
            assert await cat.wait_until_caught_up(10)
            events = await cat.log_reader.read_after(0, 10)
        finally:
            await cat.stop()
            cat.close()
        # As if category_stats had parked both (re-applying them changes nothing).
        letters = SqliteDeadLetters(data / "dead-letters.db")
        try:
            for event in events:
                await letters.park("category_stats", event, "Boom: as parked by a runner")
        finally:
            letters.close()
        return [category.version, renamed.version]

    first, second = asyncio.run(history())
    assert asyncio.run(_status_and_metrics(data)) == (2, 2.0)
    listed = _tandem(data, "list")
    assert listed.returncode == 0, listed.stderr
    assert "Dead letters (2)" in listed.stdout
    assert "category_stats" in listed.stdout and "Boom" in listed.stdout
    assert str(first) in listed.stdout and "CategoryRenamed" in listed.stdout

    skipped = _tandem(data, "skip", "category_stats", str(first))
    assert skipped.returncode == 0, skipped.stderr
    assert "Dead letters (1)" in _tandem(data, "list").stdout
    missing = _tandem(data, "skip", "category_stats", str(first))
    assert missing.returncode != 0 and "no parked event" in missing.stderr

    aggregate = _aggregate_of(data, second)
    retried = _tandem(data, "retry", "category_stats", aggregate)
    assert retried.returncode == 0, retried.stderr
    assert "applied 1 parked event" in retried.stdout
    assert "Dead letters (0)" in _tandem(data, "list").stdout
    unknown = _tandem(data, "retry", "no_such_projection", aggregate)
    assert unknown.returncode != 0 and "not an asynchronous projection" in unknown.stderr


def _aggregate_of(data: Path, position: int) -> str:
    async def find() -> str:
        letters = SqliteDeadLetters(data / "dead-letters.db")
        try:
            return next(
                letter.aggregate_id
                for letter in await letters.list()
                if letter.position == position
            )
        finally:
            letters.close()

    return asyncio.run(find())


async def _status_and_metrics(data: Path) -> tuple[int, float]:
    """What /status and /metrics say about category_stats' letters."""
    from prometheus_client.parser import text_string_to_metric_families

    cat = build_embedded(Settings(data_dir=data))
    await cat.start()
    try:
        for _ in range(50):
            row = next(r for r in cat.status() if r["name"] == "category_stats")
            if row["dead_letters"]:
                break
            await asyncio.sleep(0.05)
        text = cat.metrics.render().decode()
    finally:
        await cat.stop()
        cat.close()
    gauge = next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tandem_projection_dead_letters"
        and sample.labels["projection"] == "category_stats"
    )
    return int(row["dead_letters"]), gauge
