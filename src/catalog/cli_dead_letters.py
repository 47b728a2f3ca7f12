"""`tandem dead-letters list | retry | skip`: events projections parked, and what to do."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from catalog.dead_letters import (
    NoSuchLetter,
    NotParkable,
    StillFailing,
    retry_aggregate,
    skip_position,
)
from catalog.settings import Settings

if TYPE_CHECKING:
    # Annotations only: `tandem serve`'s supervisor process loads this module too.
    from catalog.runtime.contract import Runtime

T = TypeVar("T")

app = typer.Typer(help="Events projections parked (policy park), retried or skipped.")
console = Console()


@asynccontextmanager
async def _opened() -> AsyncIterator[Runtime]:
    """The catalog of the configured profile, connections open, nothing running."""
    from catalog.bootstrap import build

    runtime = build(Settings.from_env())
    try:
        await runtime.inspect()
        yield runtime
    finally:
        await runtime.stop()
        await runtime.aclose()


def _run(action: Callable[[Runtime], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _opened() as catalog:
            return await action(catalog)

    return asyncio.run(go())


@app.command("list")
def list_letters(
    projection: Annotated[str | None, typer.Option(help="Only this projection.")] = None,
) -> None:
    """Every parked event: projection, position, aggregate, type, when and why."""

    async def fetch(catalog: Runtime) -> list[Any]:
        return list(await catalog.dead_letters.list(projection))

    letters = _run(fetch)
    table = Table(title=f"Dead letters ({len(letters)})")
    for column in ("projection", "position", "aggregate", "event", "parked at", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        when = datetime.datetime.fromtimestamp(letter.parked_at, datetime.UTC)
        table.add_row(
            letter.projection,
            str(letter.position),
            letter.aggregate_id,
            letter.event.type,
            when.strftime("%Y-%m-%d %H:%M:%S"),
            f"[red]{letter.error}[/]",
        )
    console.print(table)


@app.command()
def retry(
    projection: Annotated[str, typer.Argument(help="The projection (or partition).")],
    aggregate: Annotated[str, typer.Argument(help="The aggregate whose letters to apply.")],
) -> None:
    """Apply an aggregate's parked events again, in order (after a fix), and forget them."""

    async def act(catalog: Runtime) -> int:
        return await retry_aggregate(catalog, projection, aggregate)

    try:
        count = _run(act)
    except (NotParkable, NoSuchLetter) as exc:
        raise typer.BadParameter(str(exc)) from exc
    except StillFailing as exc:
        console.print(f"[red]still failing[/]: {exc}; letters kept")
        raise typer.Exit(1) from exc
    console.print(f"applied {count} parked event(s) of {aggregate} to {projection}")


@app.command()
def skip(
    projection: Annotated[str, typer.Argument(help="The projection (or partition).")],
    position: Annotated[int, typer.Argument(help="The parked event's position.")],
) -> None:
    """Drop one parked event without applying it (its aggregate's later letters stay)."""

    async def act(catalog: Runtime) -> None:
        await skip_position(catalog, projection, position)

    try:
        _run(act)
    except NoSuchLetter as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"skipped position {position} of {projection}")
