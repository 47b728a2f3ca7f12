"""Administration: blue/green rebuilds of read models (admin scope)."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from catalog.api.edge import require
from catalog.api.problems import Problem
from catalog.tokens import Principal

router = APIRouter(tags=["operations"])
Admin = Annotated[Principal, Depends(require("admin"))]


def _catalog(request: Request) -> Any:
    catalog = request.app.state.catalog
    if not hasattr(catalog, "rebuild") or catalog.settings.level == 1:
        detail = "This deployment cannot rebuild read models."
        if catalog.settings.level == 1:
            detail = (
                "At separation level 1 queries read the write tables: no read model to rebuild."
            )
        raise Problem(409, "rebuild-unsupported", "Rebuild not available", detail)
    return catalog


async def _settled(result: Any) -> Any:
    """The embedded profile answers at once; the services profile asks its database."""
    return await result if inspect.isawaitable(result) else result


def _unknown(name: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"no rebuildable projection called {name!r}")


@router.post("/admin/projections/{name}/rebuild", status_code=202)
async def start_rebuild(request: Request, name: str, _admin: Admin) -> JSONResponse:
    """Fold a new copy of the read model from position 0 beside the live one and switch
    reads to it once caught up. Progress: `GET` on this path, `/status`."""
    from catalog.bootstrap import RebuildRefused

    catalog = _catalog(request)
    try:
        rebuild = await _settled(catalog.rebuild(name))
    except KeyError:
        raise _unknown(name) from None
    except RebuildRefused as exc:
        raise Problem(409, "rebuild-refused", "Rebuild refused", str(exc)) from None
    return JSONResponse(rebuild.describe(), status_code=202)


@router.get("/admin/projections/{name}/rebuild")
async def rebuild_progress(request: Request, name: str, _admin: Admin) -> dict[str, Any]:
    catalog = _catalog(request)
    refresh = getattr(catalog, "refresh_rebuilds", None)
    if refresh is not None:  # another process may have started or finished it
        await refresh()
    rebuild = catalog.rebuilds.get(name)
    if rebuild is None:
        raise _unknown(name)
    result: dict[str, Any] = rebuild.describe()
    return result


@router.delete("/admin/projections/{name}/rebuild")
async def cancel_rebuild(request: Request, name: str, _admin: Admin) -> dict[str, Any]:
    """Cancel a running rebuild: the new copy is dropped, the live one keeps serving."""
    try:
        rebuild = await _settled(_catalog(request).cancel_rebuild(name))
    except KeyError:
        raise Problem(404, "not-found", "Not found", f"no rebuild of {name!r} is running") from None
    result: dict[str, Any] = rebuild.describe()
    return result
