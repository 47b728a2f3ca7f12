"""`tandem dead-letters list | retry | skip`: events projections parked, and what to do."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from catalog.settings import Settings
from tandem.deadletters import retry as retry_letters

T = TypeVar("T")

app = typer.Typer(help="Events projections parked (policy park), retried or skipped.")
console = Console()


@asynccontextmanager
async def _opened() -> AsyncIterator[Any]:
    """The catalog of the configured profile, connections open, nothing running."""
    settings = Settings.from_env()
    if settings.services:
        from catalog.bootstrap_services import ServicesCatalog

        services = ServicesCatalog(settings)
        await services.start(projections=False)
        try:
            yield services
        finally:
            await services.stop()
            await services.aclose()
        return
    from catalog.bootstrap import Catalog

    catalog = Catalog(settings)
    try:
        yield catalog
    finally:
        catalog.close()


def _run(action: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _opened() as catalog:
            return await action(catalog)

    return asyncio.run(go())


@app.command("list")
def list_letters(
    projection: Annotated[str | None, typer.Option(help="Only this projection.")] = None,
) -> None:
    """Every parked event: projection, position, aggregate, type, when and why."""

    async def fetch(catalog: Any) -> list[Any]:
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

    async def act(catalog: Any) -> int:
        try:
            store, target = catalog.parking_target(projection)
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0])) from exc
        return await retry_letters(catalog.dead_letters, store, target, aggregate)

    try:
        count = _run(act)
    except typer.BadParameter:
        raise
    except Exception as exc:
        console.print(f"[red]still failing[/]: {type(exc).__name__}: {exc}; letters kept")
        raise typer.Exit(1) from exc
    console.print(f"applied {count} parked event(s) of {aggregate} to {projection}")


@app.command()
def skip(
    projection: Annotated[str, typer.Argument(help="The projection (or partition).")],
    position: Annotated[int, typer.Argument(help="The parked event's position.")],
) -> None:
    """Drop one parked event without applying it (its aggregate's later letters stay)."""

    async def act(catalog: Any) -> bool:
        letters = await catalog.dead_letters.list(projection)
        if not any(letter.position == position for letter in letters):
            return False
        await catalog.dead_letters.remove(projection, [position])
        return True

    if not _run(act):
        raise typer.BadParameter(f"{projection} has no parked event at {position}")
    console.print(f"skipped position {position} of {projection}")
