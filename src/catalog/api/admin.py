"""Administration: blue/green rebuilds of read models (admin scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from catalog.api.edge import require
from catalog.api.problems import Problem
from catalog.runtime.contract import RebuildRefused, RebuildUnsupported, Runtime
from catalog.tokens import Principal
from tandem.rebuilds.progress import RebuildProgress

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.catalog
    return runtime


def _unsupported(exc: RebuildUnsupported) -> Problem:
    return Problem(409, "rebuild-unsupported", "Rebuild not available", str(exc))


# Level 1 has no read model to rebuild.
_NO_REBUILDS: dict[int | str, dict[str, Any]] = {
    409: {"description": "Separation level 1: no read model to rebuild."}
}


def _unknown(name: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"no rebuildable projection called {name!r}")


@router.post(
    "/admin/projections/{name}/rebuild",
    status_code=202,
    response_model=RebuildProgress,
    responses={409: {"description": "A rebuild runs already, or level 1 has none."}},
)
async def start_rebuild(request: Request, name: str, _admin: Admin) -> JSONResponse:
    """Fold a new copy of the read model from position 0 beside the live one and switch
    reads to it once caught up. Progress: `GET` on this path, `/status`."""
    try:
        rebuild = await _runtime(request).rebuild(name)
    except RebuildUnsupported as exc:
        raise _unsupported(exc) from None
    except KeyError:
        raise _unknown(name) from None
    except RebuildRefused as exc:
        raise Problem(409, "rebuild-refused", "Rebuild refused", str(exc)) from None
    return JSONResponse(rebuild.describe(), status_code=202)


@router.get("/admin/projections/{name}/rebuild", responses=_NO_REBUILDS)
async def rebuild_progress(request: Request, name: str, _admin: Admin) -> RebuildProgress:
    runtime = _runtime(request)
    try:
        await runtime.refresh_rebuilds()  # another process may have started or finished it
    except RebuildUnsupported as exc:
        raise _unsupported(exc) from None
    rebuild = runtime.rebuilds.get(name)
    if rebuild is None:
        raise _unknown(name)
    return rebuild.describe()


@router.delete("/admin/projections/{name}/rebuild", responses=_NO_REBUILDS)
async def cancel_rebuild(request: Request, name: str, _admin: Admin) -> RebuildProgress:
    """Cancel a running rebuild: the new copy is dropped, the live one keeps serving."""
    try:
        rebuild = await _runtime(request).cancel_rebuild(name)
    except RebuildUnsupported as exc:
        raise _unsupported(exc) from None
    except KeyError:
        raise Problem(404, "not-found", "Not found", f"no rebuild of {name!r} is running") from None
    return rebuild.describe()
