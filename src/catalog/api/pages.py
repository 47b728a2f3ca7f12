"""The storefront, product, sales dashboard and operations pages, rendered by the API process itself
from the templates and static files of `catalog/web/`.

Pages render their first state on the server (product detail, projection table) and a
small script per page keeps it current through the public API and its SSE streams, so
the pages need nothing the API does not already offer, and nothing from the network.

Wire them into an app with::

    app.include_router(pages.router)
    pages.mount_static(app)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from catalog.api import guests
from catalog.api.edge import asks_strong, read_requirements
from catalog.domain.errors import NotFound
from catalog.read_models.queries import GetProduct
from catalog.runtime.contract import Runtime

WEB = Path(__file__).parent.parent / "web"
templates = Jinja2Templates(directory=WEB / "templates")

router = APIRouter(include_in_schema=False)

# The pages change with the code, not with data the browser may cache.
NO_STORE = {"Cache-Control": "no-store"}


def mount_static(app: FastAPI) -> None:
    """Serve the pages' scripts and stylesheet under `/static`."""
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")


@router.get("/")
async def storefront(request: Request) -> Response:
    response = templates.TemplateResponse(request, "storefront.html", {}, headers=NO_STORE)
    guests.welcome(request, response)
    return response


@router.get("/favicon.ico")
async def favicon() -> Response:
    return FileResponse(WEB / "static" / "favicon.ico", headers={"Cache-Control": "max-age=86400"})


@router.get("/products/{product_id}/view")
async def product_page(request: Request, product_id: UUID) -> Response:
    catalog: Runtime = request.app.state.catalog
    # Same read-your-writes rules as the JSON route: a page opened right after a
    # command shows that command's effect.
    min_version, timeout = await read_requirements(request, catalog.sessions)
    bus = catalog.strong_queries if asks_strong(request) else catalog.query_bus
    try:
        result = await bus.ask(
            GetProduct(product_id=str(product_id)), min_version=min_version, timeout=timeout
        )
    except NotFound:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"what": "product", "id": str(product_id)},
            status_code=404,
            headers=NO_STORE,
        )
    product: dict[str, Any] = result.value
    response = templates.TemplateResponse(
        request,
        "product.html",
        {"product": product, "read_version": result.read_version},
        headers=NO_STORE,
    )
    guests.welcome(request, response)
    return response


# The dashboard's chart of sales by day spans this many days, today included.
DASHBOARD_DAYS = 30


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    context = {"days": DASHBOARD_DAYS}
    return templates.TemplateResponse(request, "dashboard.html", context, headers=NO_STORE)


@router.get("/ops")
async def operations(request: Request) -> Response:
    catalog: Runtime = request.app.state.catalog
    context = {"head": catalog.head.value, "projections": catalog.status()}
    return templates.TemplateResponse(request, "ops.html", context, headers=NO_STORE)
