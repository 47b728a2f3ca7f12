"""Operations endpoints: status, liveness and readiness."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from typing_extensions import TypedDict

from catalog.runtime.contract import Runtime, StatusRow
from tandem.rebuilds.progress import RebuildProgress

router = APIRouter(tags=["operations"])


class Status(TypedDict):
    """`GET /status`: the log head this process has seen, and every read model."""

    head: int
    level: int
    projections: list[StatusRow]
    subscribers: int
    rebuilds: list[RebuildProgress]


class Health(TypedDict):
    status: Literal["ok"]


class Readiness(TypedDict, total=False):
    status: Literal["ready", "unavailable"]
    problems: list[str]


@router.get("/status")
async def status(request: Request) -> Status:
    catalog: Runtime = request.app.state.catalog
    return {
        "head": catalog.head.value,
        "level": catalog.settings.level,
        "projections": catalog.status(),
        "subscribers": catalog.product_feed.subscriber_count,
        "rebuilds": [r.describe() for r in catalog.rebuilds.values()],
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: command and query latency histograms by name and outcome,
    the log head, events appended, and per projection its checkpoint, lag (events and
    seconds), events applied and state."""
    registry = request.app.state.catalog.metrics
    return Response(registry.render(), media_type=registry.content_type)


@router.get("/healthz")
async def healthz() -> Health:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "What keeps the process from serving."}},
)
async def readyz(request: Request) -> JSONResponse:
    problems = await request.app.state.catalog.readiness()
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
