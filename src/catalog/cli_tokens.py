"""`tandem token create | list | revoke`: bearer tokens in the write database.

On either profile the command works on the write database itself (SQLite `write.db`,
or PostgreSQL migrated by `tandem migrate`), so a running server needs no restart: it
sees a new token at once, and a revoked one within a second. A refused input (a
reserved subject, an unknown scope, a bad lifetime) exits with code 2.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from catalog.domain.errors import InvalidInput
from catalog.settings import Settings
from catalog.tokens import SCOPES
from catalog.tokens.store import TokenRecord, TokenStore, issue

T = TypeVar("T")

app = typer.Typer(help="Bearer tokens for people and services.", no_args_is_help=True)
console = Console(stderr=True)

_LIFETIME = re.compile(r"([0-9]{1,12})([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_OPTIONS = {"subject": "--subject", "scopes": "--scopes", "expires_in": "--expires-in"}


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[TokenStore]:
    """The token store of the settings' write database, open for one command."""
    if settings.services:
        from catalog.migrations import MIGRATIONS
        from catalog.tokens.postgres import PostgresTokens
        from tandem.db.postgres import create_pool
        from tandem.migrations import pending

        assert settings.database_url is not None
        pool = await create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                missing = await pending(conn, MIGRATIONS)
            if missing:
                raise _Unmigrated("the write database needs migrations: run `tandem migrate`")
            yield PostgresTokens(pool)
        finally:
            await pool.close()
        return
    from catalog.tokens.sqlite import SqliteTokens
    from catalog.write.sqlite_schema import create_schema
    from tandem.db.sqlite import SqliteDatabase
    from tandem.files import private_dir

    private_dir(settings.data_dir)
    db = SqliteDatabase(settings.write_database)
    try:
        db.call(create_schema)
        yield SqliteTokens(db)
    finally:
        db.close()


class _Unmigrated(Exception):
    """The services profile's write database lacks migrations."""


def _run(action: Callable[[TokenStore], Awaitable[T]]) -> T:
    async def run() -> T:
        async with _store(Settings.from_env()) as store:
            return await action(store)

    try:
        return asyncio.run(run())
    except _Unmigrated as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from None


def lifetime(raw: str | None) -> int | None:
    """Seconds from `3600`, `90s`, `15m`, `12h` or `30d` (None: no expiry)."""
    if raw is None:
        return None
    match = _LIFETIME.fullmatch(raw.strip())
    if match is None:
        raise typer.BadParameter("a number of seconds, or N followed by s, m, h or d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


@app.command("create")
def create(
    subject: Annotated[str, typer.Option(help="Whom the token speaks for (`admin` is reserved).")],
    scopes: Annotated[
        str,
        typer.Option("--scopes", "--scope", help=f"Comma-separated, from: {', '.join(SCOPES)}."),
    ],
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime: seconds, or e.g. 90m, 12h, 30d. Default: none.")
    ] = None,
) -> None:
    """Create a bearer token and print it once (its id goes to standard error)."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    seconds = lifetime(expires_in)
    try:
        secret, record = _run(lambda store: issue(store, subject, wanted, seconds))
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint=_OPTIONS.get(exc.field)) from None
    expiry = f", expires {_when(record.expires_at)}" if record.expires_at is not None else ""
    console.print(f"token {record.id} for {record.subject!r}{expiry}", markup=False)
    typer.echo(secret)


@app.command("list")
def list_tokens(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Every token: id, subject, scopes, times and state (never a secret)."""
    records: list[TokenRecord] = _run(lambda store: store.list())
    now = datetime.now(UTC).timestamp()
    if as_json:
        rows = [
            {
                "id": r.id,
                "subject": r.subject,
                "scopes": sorted(r.scopes),
                "created_at": _when(r.created_at),
                "expires_at": _when(r.expires_at) or None,
                "revoked_at": _when(r.revoked_at) or None,
                "state": r.state(now),
            }
            for r in records
        ]
        typer.echo(json.dumps({"tokens": rows}, indent=2))
        return
    table = Table(title="Tokens")
    for column in ("id", "subject", "scopes", "created", "expires", "revoked", "state"):
        table.add_column(column, no_wrap=column == "id")
    for r in records:
        table.add_row(
            r.id,
            r.subject,
            " ".join(sorted(r.scopes)),
            _when(r.created_at),
            _when(r.expires_at),
            _when(r.revoked_at),
            r.state(now),
        )
    Console().print(table)


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (see `list`).")]) -> None:
    """Revoke a token: every API process refuses it within a second."""
    now = datetime.now(UTC).timestamp()
    record = _run(lambda store: store.revoke(token_id, now))
    if record is None:
        console.print(f"no token with id {token_id}", markup=False)
        raise typer.Exit(1)
    console.print(f"revoked {record.id} ({record.subject!r})", markup=False)
