"""The FastAPI application: routers, error mapping, body limit, lifecycle."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api import (
    admin,
    commands,
    dead_letters,
    docs,
    openapi,
    ops,
    pages,
    problems,
    queries,
    streams,
)
from catalog.api import tokens as tokens_api
from catalog.api.auth import Authenticator
from catalog.api.auth_failures import AuthFailures
from catalog.api.concurrency import ConcurrencyCap
from catalog.api.hot import HotReads
from catalog.api.hot_commands import HotCommands
from catalog.api.limits import BodyLimit
from catalog.api.progress import ProgressBroadcast
from catalog.api.security import SecurityHeaders
from catalog.api.stream_slots import StreamSlots
from catalog.runtime.contract import Runtime
from catalog.tokens.verifier import TokenVerifier
from tandem.memory import sqlite_bytes
from tandem.unavailable import driver_errors


def create_app(catalog: Runtime, tokens: TokenVerifier) -> FastAPI:
    """Build the HTTP app around a (not yet started) catalog."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await catalog.start()
        try:
            tokens.attach(catalog.tokens)
            # What startup made (modules, the catalog's wiring, filled caches) lives as
            # long as the process: kept out of the cyclic collector's full passes, which
            # otherwise walked it all and held the event loop for up to 190 ms at a time
            # under the 100:1 mix (18 ms frozen).
            gc.collect()
            gc.freeze()
            yield
        finally:
            await progress.aclose()
            await catalog.stop()
            await catalog.aclose()

    # FastAPI makes HTTP server spans, the parents of command and query spans, when
    # OpenTelemetry has a provider, and asks whether it has one at every request: a
    # tenth of the time of a product read served from memory. This process has one only
    # when it exports spans (`tandem.tracing.setup`); it records no OpenTelemetry
    # metrics or logs (Prometheus at /metrics, JSON logs).
    tracing = catalog.settings.otel_exporter is not None
    app = _Fronted(
        title="Tandem catalog",
        generate_unique_id_function=openapi.operation_id,
        version="0.1.0",
        description="A product catalog built on the Tandem CQRS toolkit.",
        lifespan=lifespan,
        # Served by `docs` instead, from local assets under the pages' policy.
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": tracing, "metrics": False, "logs": False},
    )
    app.state.catalog = catalog
    app.state.tokens = tokens
    settings = catalog.settings
    progress = app.state.progress = ProgressBroadcast(catalog)
    app.state.stream_slots = StreamSlots(settings.max_streams, settings.max_streams_per_client)
    auth = Authenticator(tokens, AuthFailures(settings.auth_failures, settings.auth_failure_window))
    app.state.auth = auth
    # Read at every scrape, so rebuilds started later are reported.
    catalog.metrics.watch_rebuilds(lambda: [r.describe() for r in catalog.rebuilds.values()])
    catalog.metrics.watch_caches(lambda: _caches(catalog))
    catalog.metrics.watch_memory(_memory)
    problems.install(app, outages=driver_errors(load=catalog.settings.services))
    openapi.install(app)
    app.include_router(commands.router)
    app.include_router(queries.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    app.include_router(dead_letters.router)
    app.include_router(tokens_api.router)
    app.include_router(streams.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    docs.mount_assets(app)  # under /static/docs: ahead of the pages' /static
    pages.mount_static(app)
    app.add_middleware(BodyLimit)
    # Outermost, ahead of Starlette's error and exception layers and FastAPI's own
    # per-request work: the hot reads and commands answer every problem themselves;
    # the concurrency cap before them all. Security headers wrap all the rest (its 500s
    # included); the hot paths send a constant nosniff of their own.
    behind = SecurityHeaders(app.behind)
    hot = HotReads(HotCommands(behind, catalog, auth), catalog=catalog)
    app.front = ConcurrencyCap(hot, settings.max_concurrency)
    return app


class _Fronted(FastAPI):
    """FastAPI with one ASGI layer in front of all it does per request, its own
    middleware stack included (`front`, which calls `behind` for what it does not
    answer)."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def behind(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _memory() -> list[tuple[str, int | None]]:
    """What SQLite and each DuckDB file hold in this process's memory."""
    from tandem.stores import duckdb

    held: list[tuple[str, int | None]] = [("sqlite", sqlite_bytes())]
    return held + [(f"duckdb:{name}", size) for name, size in duckdb.memory_by_file()]


def _caches(catalog: Runtime) -> list[tuple[str, Any]]:
    """The process's caches by name: product documents, then answers by query type."""
    found: list[tuple[str, Any]] = []
    if catalog.detail_cache is not None:
        found.append(("product_detail", catalog.detail_cache.cache))
    found += [(query.__name__, cached.cache) for query, cached in catalog.answers.items()]
    return found
