"""The hot read path: `GET /products/{id}` (and `/categories/{id}/stats`) served beside
FastAPI's router.

Product detail is the most frequent request by two orders of magnitude (the seed's
100:1 read mix). Routing and dependency resolution cost more than the read itself, so
this ASGI layer answers canonical-id detail reads directly, with the same consistency
rules, headers and problem responses as the documented route, which still serves
everything else (and non-canonical ids, which it validates). Category stats, the next
most frequent read of a storefront, take the same shortcut through the query bus.

Where the catalog keeps product documents in memory (`detail_cache`), a read is
answered from there when the cache has applied every change up to the version the
read needs, with the stored bytes as they are; otherwise it is read through the query
bus (which waits for that version) and fills the cache. Stats take the same path
through the catalog's cached answers (`answers`), where it keeps them.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api.edge import query_response, read_requirements
from catalog.api.problems import from_exception, problem_response
from catalog.read_models.documents import Document
from catalog.read_models.queries import GetCategoryStats, GetProduct
from catalog.runtime.contract import Runtime
from tandem.messages import Query

_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_DETAIL = re.compile(rf"/products/{_UUID}")
_STATS = re.compile(rf"/categories/{_UUID}/stats")

# Query strings that leave the defaults of `read_requirements` apart from the
# consistency mode, which matters only with a read-version cookie.
_PLAIN_QUERIES = frozenset({b"", b"consistency=eventual", b"consistency=session"})
# Request headers that `read_requirements` or the entity-tag check read.
_X_MIN_VERSION = b"x-min-version"
_COOKIE = b"cookie"
_IF_NONE_MATCH = b"if-none-match"
_DEFAULT_WAIT = 2.0

_JSON = (b"content-type", b"application/json")
_NO_CACHE = (b"cache-control", b"no-cache")


class HotReads:
    def __init__(self, app: ASGIApp, catalog: Runtime) -> None:
        self.app = app
        # The bus and the cache are looked up per request: the services profile wires
        # them at startup.
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        match = _DETAIL.fullmatch(path)
        if match is None:
            stats = _STATS.fullmatch(path)
            if stats is None:
                await self.app(scope, receive, send)
                return
            query = GetCategoryStats(category_id=stats.group(1))
            cached = self.catalog.answers.get(GetCategoryStats)
            if cached is None:
                await self._through_bus(scope, receive, send, query)
                return
            try:
                min_version, timeout, if_none_match = _requirements(scope, receive)
                found = cached.lookup(query, min_version)
                if found is None:
                    found = await cached.load(query, min_version, timeout)
            except Exception as exc:
                await problem_response(from_exception(exc))(scope, receive, send)
                return
            await _send_document(send, found[0], found[1], if_none_match)
            return
        detail = self.catalog.detail_cache
        if detail is None:
            await self._through_bus(scope, receive, send, GetProduct(product_id=match.group(1)))
            return
        try:
            min_version, timeout, if_none_match = _requirements(scope, receive)
            product_id = match.group(1)
            found = detail.lookup(product_id, min_version)
            if found is None:
                found = await detail.load(product_id, min_version, timeout)
        except Exception as exc:
            await problem_response(from_exception(exc))(scope, receive, send)
            return
        await _send_document(send, found[0], found[1], if_none_match)

    async def _through_bus(self, scope: Scope, receive: Receive, send: Send, query: Query) -> None:
        request = Request(scope, receive)
        try:
            min_version, timeout = read_requirements(request)
            result = await self.catalog.query_bus.ask(
                query, min_version=min_version, timeout=timeout
            )
            response = query_response(request, result)
        except Exception as exc:
            response = problem_response(from_exception(exc))
        await response(scope, receive, send)


def _requirements(scope: Scope, receive: Receive) -> tuple[int, float, bytes | None]:
    """`read_requirements` of the request, and its If-None-Match header; the common
    request (no version asked for, no cookie) is recognised without parsing it."""
    if_none_match: bytes | None = None
    plain = scope["query_string"] in _PLAIN_QUERIES
    for name, value in scope["headers"]:
        if name == _IF_NONE_MATCH:
            if if_none_match is None:
                if_none_match = value
        elif name in (_X_MIN_VERSION, _COOKIE):
            plain = False
    if plain:
        return 0, _DEFAULT_WAIT, if_none_match
    min_version, timeout = read_requirements(Request(scope, receive))
    return min_version, timeout, if_none_match


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    return etag in (tag.strip() for tag in if_none_match.split(b","))


async def _send_document(
    send: Send, version: int, document: Document, if_none_match: bytes | None
) -> None:
    """The response `query_response` makes for this document, sent as it is stored."""
    headers = [
        (b"x-read-version", str(version).encode()),
        (b"etag", document.etag),
        _NO_CACHE,
    ]
    if if_none_match is not None and _matches(if_none_match, document.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-length", str(len(document.body)).encode()))
    headers.append(_JSON)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": document.body})
