"""`tandem token` on the services profile's write database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from catalog.cli import app
from tests.support.services import PostgresDatabase

pytestmark = pytest.mark.services


def test_token_commands_on_an_unmigrated_database_say_to_migrate(
    pg_database: PostgresDatabase,
) -> None:
    env = {"TANDEM_DATABASE_URL": pg_database.url, "TANDEM_LEVEL": "1"}
    for args in (["create", "--subject", "ann", "--scope", "orders"], ["list"], ["revoke", "x"]):
        done = CliRunner().invoke(app, ["token", *args], env=env)
        assert done.exit_code == 1, (args, done.output)
        assert "tandem migrate" in done.output
        assert done.exception is None or isinstance(done.exception, SystemExit)
