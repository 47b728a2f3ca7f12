"""Correlation and causation ids travel from a command to the projections that apply it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.logging_setup import configure
from catalog.settings import Settings


@pytest.fixture
def json_logs() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("DEBUG")
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


async def test_a_commands_ids_reach_every_projection_log_line(
    tmp_path: Path, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    configure("DEBUG")  # onto the stderr capsys captures now
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        result = await cat.command_bus.dispatch(
            c.CreateCategory(name="Traced"), subject="admin", correlation_id="trace-42"
        )
        assert await cat.wait_until_caught_up(timeout=10)
    finally:
        await cat.stop()
        cat.close()
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    traced = [line for line in lines if line.get("correlation_id") == "trace-42"]
    committed = [line for line in traced if "committed at version" in line["event"]]
    assert committed and committed[0]["command"] == "CreateCategory"
    assert str(result.version) in committed[0]["event"]
    applied = {line["projection"] for line in traced if line.get("projection")}
    # async projections that handle CategoryCreated, each in its own runner
    assert {"product_search", "category_stats"} <= applied
    causations = {line["causation_id"] for line in traced}
    assert len(causations) == 1 and None not in causations
