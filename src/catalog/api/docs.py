"""The API's documentation pages: `/docs` (Swagger UI) and `/redoc` (ReDoc), over
`/openapi.json`, with every asset served by this server.

The scripts and stylesheets of both are the copies the `fastapi-offline` package ships
(under `/static/docs/`), so the pages work without the network, and no script from
elsewhere ever runs beside a pasted token. Each page is a template with no inline
script: what starts the viewer is a static file (`web/static/docs.js`, `redoc.js`), so
the pages satisfy the strict policy of every page (`catalog.api.security`). ReDoc
alone also writes `<style>` elements as it renders: its page's policy allows styles
carrying a nonce drawn for that response, which the page hands ReDoc (the `nonce` of
its start script).

    app.include_router(docs.router)
    docs.mount_assets(app)
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from catalog.api.pages import NO_STORE, templates
from catalog.api.security import CSP, page_policy

ASSETS = "/static/docs"

# ReDoc's bundle also writes one fixed stylesheet (its scrollbars') into a <style> element
# as it loads, before it can be given the nonce: that element is allowed by the hashes
# of its content and of the empty element it starts as. They hold for the pinned
# fastapi-offline; the browser test names the hash of any other.
REDOC_STYLESHEETS = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' "
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='"
)

router = APIRouter(include_in_schema=False)


def mount_assets(app: FastAPI) -> None:
    """Serve the viewers' scripts and stylesheets under `ASSETS` (mounted ahead of the
    pages' own `/static`)."""
    shipped = Path(str(files("fastapi_offline") / "static"))
    app.mount(ASSETS, StaticFiles(directory=shipped), name="docs-assets")


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    context = {"spec": request.app.openapi_url, "assets": ASSETS, "title": request.app.title}
    return templates.TemplateResponse(request, "docs.html", context, headers=NO_STORE)


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    nonce = secrets.token_urlsafe(18)
    context = {
        "spec": request.app.openapi_url,
        "assets": ASSETS,
        "title": request.app.title,
        "nonce": nonce,
    }
    styles = f"'nonce-{nonce}' {REDOC_STYLESHEETS}"
    headers = {**NO_STORE, CSP: page_policy(styles=styles, workers="blob:")}
    return templates.TemplateResponse(request, "redoc.html", context, headers=headers)
