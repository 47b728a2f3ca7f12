"""The `tandem` command line: seed, status and token, on a real data directory."""

from __future__ import annotations

import json
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
    assert created.stdout.strip().startswith("tdm_")
    refused = runner.invoke(
        app, ["token", "create", "--subject", "eve", "--scopes", "root"], env=env
    )
    assert refused.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--subject", "admin", "--scope", "orders"],
        ["--subject", "   ", "--scope", "orders"],
        ["--subject", "bell\x07", "--scope", "orders"],
        ["--subject", "x" * 500, "--scope", "orders"],
        ["--subject", "zoe", "--scope", ""],
        ["--subject", "zoe", "--scope", "orders", "--expires-in", "soon"],
        ["--subject", "zoe", "--scope", "orders", "--expires-in", "0"],
    ],
    ids=["admin", "blank", "control", "long", "no-scope", "bad-lifetime", "zero-lifetime"],
)
def test_token_create_refuses_bad_input_with_exit_code_2_and_stores_nothing(
    env: dict[str, str], args: list[str]
) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["token", "create", *args], env=env)
    assert refused.exit_code == 2, refused.output
    assert not refused.stdout.strip()
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    listed = runner.invoke(app, ["token", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {"tokens": []}


def test_token_list_and_revoke(env: dict[str, str]) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["token", "create", "--subject", "ann", "--scope", "orders", "--expires-in", "2h"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    listed = json.loads(runner.invoke(app, ["token", "list", "--json"], env=env).stdout)
    [token] = listed["tokens"]
    assert secret not in json.dumps(listed)
    assert token["subject"] == "ann" and token["state"] == "active" and token["expires_at"]
    table = runner.invoke(app, ["token", "list"], env=env)
    assert table.exit_code == 0 and token["id"] in table.stdout and secret not in table.stdout
    revoked = runner.invoke(app, ["token", "revoke", token["id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    listed = json.loads(runner.invoke(app, ["token", "list", "--json"], env=env).stdout)
    assert listed["tokens"][0]["state"] == "revoked"
    unknown = runner.invoke(app, ["token", "revoke", "no-such-id"], env=env)
    assert unknown.exit_code == 1
