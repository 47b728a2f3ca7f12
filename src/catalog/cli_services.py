"""The services profile's commands: `tandem migrate | worker | relay | up`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console

from catalog.settings import Settings, SettingsError
from tandem.stopping import finish
from tandem.unavailable import location

console = Console(stderr=True)


def _services_settings() -> Settings:
    settings = Settings.from_env()
    if not settings.services:
        raise SettingsError(
            "TANDEM_DATABASE_URL: this command runs the services profile:"
            " set TANDEM_DATABASE_URL=postgresql://…"
        )
    return settings


async def _migrate(settings: Settings) -> list[str]:
    from catalog.migrations import MIGRATIONS
    from tandem.db.postgres import create_pool
    from tandem.migrations import migrate

    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await migrate(conn, MIGRATIONS)
    finally:
        await pool.close()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run_worker(settings: Settings) -> None:
    from catalog.bootstrap import build_services
    from catalog.runtime.contract import Role
    from tandem import taskdump

    taskdump.install()
    catalog = build_services(settings, roles=[Role.WORKER])
    await catalog.start()
    console.print(f"worker {catalog.worker_id} started")
    try:
        await _until_signalled()
    finally:
        await catalog.stop()
        await catalog.aclose()


async def _run_relay(settings: Settings, metrics_host: str, metrics_port: int) -> None:

    from tandem.consistency import VersionWatch
    from tandem.db.postgres import create_pool
    from tandem.db.postgres.notify import Listener
    from tandem.eventlog import postgres as pg_log
    from tandem.transport.nats import client as nats_client
    from tandem.transport.nats.relay import NatsRelay

    assert settings.database_url is not None and settings.nats_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    log = pg_log.PostgresEventLog(pool, pg_log.AppendMode(settings.event_log_mode))
    head = VersionWatch(await log.head())
    visible = pg_log.VisibleHead(log, head)
    listener = Listener(settings.database_url)
    listener.on(pg_log.NOTIFY_CHANNEL, visible.notified)
    listener.on_resync(visible.refresh)
    nc = await nats_client.connect(settings.nats_url)
    relay = NatsRelay(
        log,
        nc,
        head,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subjects,
        replicas=settings.nats_replicas,
    )
    tasks = [
        asyncio.create_task(listener.run()),
        asyncio.create_task(visible.run()),
        asyncio.create_task(relay.run()),
    ]
    metrics = None
    if metrics_port:
        from tandem.transport.nats.relay_metrics import serve_metrics

        metrics = serve_metrics(relay, metrics_host, metrics_port)
    console.print(
        f"relay started: NATS at {location(settings.nats_url, 4222)},"
        f" stream {settings.nats_stream} ({settings.nats_replicas} replicas)"
    )
    try:
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(_until_signalled())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in done:
            if task in tasks and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        if metrics is not None:
            metrics.shutdown()
        await finish(tasks)
        await nc.close()
        await pool.close()


def register(app: typer.Typer) -> None:
    """Add the services-profile commands to the `tandem` command."""

    @app.command()
    def migrate() -> None:
        """Apply the write database's missing schema migrations (services profile)."""
        settings = _services_settings()
        applied = asyncio.run(_migrate(settings))
        for line in applied:
            console.print(f"applied {line}")
        console.print("the write database is current" if not applied else "done")

    @app.command()
    def worker(
        log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
    ) -> None:
        """Run projections into Redis and the read database, sharing them with other
        workers under leases (services profile)."""
        import uvloop

        from catalog.logging_setup import configure
        from tandem import tracing

        configure(log_level.upper())
        settings = _services_settings()
        tracing.setup(settings.otel_exporter, settings.otel_service_name)
        uvloop.run(_run_worker(settings))

    @app.command()
    def relay(
        log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
        metrics_port: Annotated[
            int,
            typer.Option(
                min=0,
                max=65535,
                help="Serve the relay's counters on http://HOST:PORT/metrics (0: off).",
                envvar="TANDEM_RELAY_METRICS_PORT",
            ),
        ] = 0,
        metrics_host: Annotated[
            str, typer.Option(help="Interface of the metrics port.")
        ] = "127.0.0.1",
    ) -> None:
        """Publish the event log to NATS JetStream in position order (services profile)."""
        from catalog.logging_setup import configure

        configure(log_level.upper())
        settings = _services_settings()
        if not settings.nats_url:
            raise SettingsError("TANDEM_NATS_URL: the relay needs it")
        asyncio.run(_run_relay(settings, metrics_host, metrics_port))

    @app.command()
    def up(
        workers: Annotated[int, typer.Option(help="Projection worker processes.")] = 2,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    ) -> None:
        """Migrate, then run serve + workers (+ relay with NATS) on this machine,
        restarting any that dies, until interrupted (services profile)."""
        settings = _services_settings()
        for line in asyncio.run(_migrate(settings)):
            console.print(f"applied {line}")
        commands = [["serve", "--host", host, "--port", str(port)]]
        commands += [["worker"]] * workers
        if settings.nats_url:
            commands.append(["relay"])
        _supervise(commands)


def _supervise(commands: list[list[str]]) -> None:
    def start(args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "catalog", *args], env=os.environ.copy())

    children = [start(args) for args in commands]
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            time.sleep(0.5)
            for i, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    name = " ".join(commands[i])
                    console.print(f"{name} exited ({child.returncode}); restarting")
                    children[i] = start(commands[i])
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(15)
