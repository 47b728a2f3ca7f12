"""Operations endpoints: status, liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

router = APIRouter(tags=["operations"])


@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    catalog = request.app.state.catalog
    return {
        "head": catalog.head.value,
        "level": catalog.settings.level,
        "projections": catalog.status(),
        "subscribers": catalog.product_feed.subscriber_count,
        "rebuilds": [r.describe() for r in catalog.rebuilds.values()],
    }


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format: command and query latency histograms by name and outcome,
    the log head, events appended, and per projection its checkpoint, lag (events and
    seconds), events applied and state."""
    registry = request.app.state.catalog.metrics
    return Response(registry.render(), media_type=registry.content_type)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    problems = await request.app.state.catalog.readiness()
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
