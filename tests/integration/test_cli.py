"""The `tandem` command line: seed, status and token, on a real data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog.cli import app
from catalog.read_models.registry import READ_MODELS


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TANDEM_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160"}


def test_seed_then_status_reports_every_projection_caught_up(env: dict[str, str]) -> None:
    runner = CliRunner()
    seeded = runner.invoke(app, ["seed", "--products", "40", "--seed", "3"], env=env)
    assert seeded.exit_code == 0, seeded.output
    again = runner.invoke(app, ["seed", "--products", "40", "--if-empty"], env=env)
    assert again.exit_code == 0
    assert "nothing to seed" in again.output
    status = runner.invoke(app, ["status", "--url", "http://127.0.0.1:9"], env=env)
    assert status.exit_code == 0, status.output
    for spec in READ_MODELS:
        assert spec.projection().name in status.output
    assert "offline" in status.output
    assert "failed" not in status.output


def test_token_create_prints_a_token_and_refuses_unknown_scopes(env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["token", "create", "--subject", "alice", "--scopes", "orders"], env=env
    )
    assert created.exit_code == 0, created.output
    assert created.output.strip().startswith("tdm_")
    refused = runner.invoke(
        app, ["token", "create", "--subject", "eve", "--scopes", "root"], env=env
    )
    assert refused.exit_code != 0
