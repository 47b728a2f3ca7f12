"""The `tandem` command: serve, seed, status, token."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from catalog.cli_dead_letters import app as dead_letters_app
from catalog.cli_errors import reported
from catalog.cli_options import SERVER_URL, ServerUrl
from catalog.cli_rebuild import register as register_rebuild
from catalog.cli_services import register as register_services
from catalog.cli_tokens import app as token_app
from catalog.settings import Settings
from catalog.tokens import admin_token

app = typer.Typer(help="Tandem: a CQRS product catalog.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console(stderr=True)
register_services(app)
app.add_typer(dead_letters_app, name="dead-letters")
register_rebuild(app)


class Server(StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
    server: Annotated[
        Server, typer.Option(help="The ASGI server.", envvar="TANDEM_SERVER")
    ] = Server.GRANIAN,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes on one port (services profile only).",
            envvar="TANDEM_WORKERS",
        ),
    ] = 1,
) -> None:
    """Serve the API (embedded: with every projection in this process; services: with
    projections in `tandem worker` processes)."""
    from catalog.logging_setup import configure

    configure(log_level.upper())
    settings = Settings.from_env()
    if workers > 1 and not settings.services:
        raise typer.BadParameter(
            "the embedded profile serves from one process (its SQLite files have one writer)",
            param_hint="--workers",
        )
    token, new = admin_token(settings.admin_token, settings.data_dir)
    if new:
        console.print(f"[bold]Admin token[/bold] (kept in {settings.data_dir / 'admin-token'}):")
        console.print(token, markup=False, highlight=False)
    if server is Server.GRANIAN:
        _serve_granian(host, port, log_level, workers, settings, token)
        return
    import uvicorn

    from catalog.api import factory
    from catalog.api.servers import APP_FACTORY, LOG_LEVEL, uvicorn_options
    from tandem import tracing

    target: Any = APP_FACTORY
    if workers > 1:
        os.environ[LOG_LEVEL] = log_level
    else:
        tracing.setup(settings.otel_exporter, settings.otel_service_name)
        target = factory.build_app(settings, token)
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,  # keep the JSON logging configured above
        access_log=False,
        **uvicorn_options(settings),
    )


def _serve_granian(
    host: str, port: int, log_level: str, workers: int, settings: Settings, token: str
) -> None:
    """One worker: granian serves from this process, the app built here. Several
    (services profile): granian's worker processes each build the app
    (`catalog.api.factory`); this process supervises them, and stops them on SIGTERM or
    SIGINT."""
    from granian.constants import Interfaces
    from granian.log import LogLevels

    from catalog.api.servers import APP_FACTORY, LOG_LEVEL, granian_options

    options: dict[str, Any] = {
        "address": host,
        "port": port,
        "interface": Interfaces.ASGI,
        "log_level": LogLevels(log_level.lower()),
        "log_access": False,
        **granian_options(settings),
    }
    if workers == 1:
        _serve_granian_here(options, settings, token)
        return
    from granian.server import Server as Granian

    os.environ[LOG_LEVEL] = log_level
    Granian(APP_FACTORY, workers=workers, factory=True, **options).serve()


def _serve_granian_here(options: dict[str, Any], settings: Settings, token: str) -> None:
    """granian's server on this process's event loop (`granian.server.embed`): no
    supervising process beside the one that serves, which would hold another
    interpreter's worth of memory (about 55 MB) to watch a single worker. SIGTERM and
    SIGINT stop it gracefully (the app's shutdown runs); a kill takes everything with it,
    so there is no worker left to hold the data files."""
    import asyncio
    import atexit
    import logging
    import signal
    import sys

    import uvloop
    from granian.server.embed import Server as Granian

    from catalog.api import factory
    from tandem import tracing

    tracing.setup(settings.otel_exporter, settings.otel_service_name)
    app = factory.build_app(settings, token)
    server = Granian(app, **options)
    # granian calls this mode experimental at every start; it is the one used here.
    logging.getLogger("_granian").addFilter(lambda record: "experimental" not in record.msg)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, server.stop)
        await server.serve()

    uvloop.run(serve())
    # Stopped gracefully: the app has shut down and closed its stores. The interpreter's
    # own teardown would now run beside granian's runtime thread, which still holds
    # Python state, and DuckDB's bindings would report their objects as leaked; so the
    # exit handlers run (flushing logs and spans) and the process ends here.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command()
def seed(
    products: Annotated[int, typer.Option(help="How many products to create.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same data.")] = 1,
    if_empty: Annotated[bool, typer.Option(help="Do nothing if the log has events.")] = False,
    bulk: Annotated[
        bool,
        typer.Option(
            help="Into an empty log, many commands per transaction (the domain's rules and"
            " events, not the command bus): for large benchmark catalogs."
        ),
    ] = False,
) -> None:
    """Load deterministic demo data through the real command path."""
    from catalog import seed as seeding
    from catalog import seed_bulk

    async def run() -> None:
        settings = Settings.from_env()
        # The services profile's workers apply what this command writes: nothing to
        # fold here. A bulk load writes before the embedded catalog folds it.
        from catalog.bootstrap import build

        runtime = build(settings)
        try:
            if settings.services:
                await runtime.start(projections=False)
            if if_empty and runtime.head.value > 0:
                console.print("The event log already has data; nothing to seed.")
                return
            if bulk and runtime.head.value > 0:
                console.print("[red]--bulk loads into an empty event log only.[/red]")
                raise typer.Exit(1)
            if not bulk and not settings.services:
                await runtime.start()
            plan = seeding.plan(products, seed)
            with Progress(
                TextColumn("[bold]seeding[/bold]"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} commands"),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("seed", total=1)

                def on_progress(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                if bulk:
                    report = await seed_bulk.bulk_seed(
                        settings, runtime.registry, plan, on_progress=on_progress
                    )
                else:
                    report = await seeding.load(runtime, plan, on_progress=on_progress)
            if bulk and not settings.services:
                # A catalog opened on what the bulk load wrote folds it into its projections.
                await runtime.aclose()
                from catalog.bootstrap import build

                runtime = build(settings)
                await runtime.start()
            if not settings.services:
                await runtime.wait_until_caught_up(timeout=1800)
            console.print(f"Seeded: {report}")
        finally:
            await runtime.stop()
            await runtime.aclose()

    asyncio.run(run())


def _running_status(url: str) -> list[dict[str, object]] | None:
    """The live figures of a running server, or None if none answers at `url`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=1) as response:
            projections: list[dict[str, object]] = json.load(response)["projections"]
            return projections
    except (OSError, ValueError, KeyError):
        return None


@app.command()
def status(url: ServerUrl = SERVER_URL) -> None:
    """A table of every projection: mode, store, version, checkpoint, head, lag, state
    and its rebuild (running, or the last one).

    Asks the running server; without one, reads the stored checkpoints (state offline):
    a data directory a running embedded server holds is for that server alone.
    """

    async def offline() -> list[dict[str, object]]:
        settings = Settings.from_env()
        from catalog.bootstrap import build

        runtime = build(settings)
        try:
            await runtime.inspect()
            return [dict(row) for row in runtime.status()]
        finally:
            await runtime.stop()
            await runtime.aclose()

    rows = _running_status(url) or asyncio.run(offline())
    table = Table(title="Projections")
    columns = (
        "name",
        "mode",
        "store",
        "version",
        "checkpoint",
        "head",
        "lag",
        "lag s",
        "parked",
        "state",
        "rebuild",
    )
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("name", "mode", "store", "rebuild") else "right",
            no_wrap=column == "name",
        )
    colours = {"live": "green", "failed": "bold red", "catching_up": "yellow", "outdated": "yellow"}
    for row in rows:
        lag = int(str(row["lag_events"]))
        parked = int(str(row.get("dead_letters", 0)))
        state = str(row["state"])
        version = row.get("version")
        table.add_row(
            str(row["name"]),
            str(row["mode"]),
            str(row["store"]),
            "" if version is None else f"v{version}",
            str(row["checkpoint"]),
            str(row["head"]),
            f"[{'green' if lag == 0 else 'yellow'}]{lag}[/]",
            str(row["lag_seconds"]),
            f"[{'bold red' if parked else 'green'}]{parked}[/]",
            f"[{colours.get(state, 'white')}]{state}[/]",
            rebuild_cell(row.get("rebuild")),
        )
    Console().print(table)


REBUILD_COLOURS = {"running": "yellow", "switched": "green", "failed": "bold red"}


def rebuild_cell(rebuild: object) -> str:
    """A rebuild in one cell: the version it builds, its state, how far it is (or why it
    failed), coloured by state."""
    if not isinstance(rebuild, dict):
        return ""
    state = str(rebuild.get("state"))
    text = f"v{rebuild.get('version')} {state}"
    if state == "running":
        text += f" {rebuild.get('percent', 0)}% ({rebuild.get('events_per_s', 0)} ev/s)"
    elif state == "failed" and rebuild.get("error"):
        text += f": {rebuild['error']}"
    return f"[{REBUILD_COLOURS.get(state, 'dim')}]{escape(text)}[/]"


def main() -> None:
    with reported():
        app()
