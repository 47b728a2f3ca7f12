"""Operations endpoints: status, liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    catalog = request.app.state.catalog
    return {
        "head": catalog.head.value,
        "projections": catalog.status(),
        "subscribers": catalog.product_feed.subscriber_count,
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    problems = await request.app.state.catalog.readiness()
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
