"""The hot read path: `GET /products/{id}` (and `/categories/{id}/stats`, and plain
searches) served beside FastAPI's router.

Product detail is the most frequent request by two orders of magnitude (the seed's
100:1 read mix). Routing and dependency resolution cost more than the read itself, so
this ASGI layer answers canonical-id detail reads directly, with the same consistency
rules, headers and problem responses as the documented route, which still serves
everything else (and non-canonical ids, which it validates). Category stats, the next
most frequent read of a storefront, take the same shortcut through the query bus, and so
do searches whose every parameter is one the route would take as it is (`_plain_search`:
text, category, stock, sort and limit, as a storefront asks): FastAPI's validation of
the search's eight parameters cost a tenth of a search. Any other search (a price range,
a cursor, a value the route would reject or convert) goes to the route.

Where the catalog keeps product documents in memory (`detail_cache`), a read is
answered from there when the cache has applied every change up to the version the
read needs, with the stored bytes as they are; otherwise it is read through the query
bus (which waits for that version) and fills the cache. Stats and searches go through
the catalog's cached answers (`answers`) the same way, where it keeps them.
"""

from __future__ import annotations

import re

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api.edge import CANONICAL_UUID, read_requirements
from catalog.api.problems import from_exception, problem_response
from catalog.api.security import NOSNIFF
from catalog.read_models.documents import Document
from catalog.read_models.queries import GetCategoryStats, GetProduct, SearchProducts
from catalog.runtime.contract import Runtime
from tandem.messages import Query
from tandem.sessions import Sessions

_DETAIL = re.compile(rf"/products/{CANONICAL_UUID}")
_STATS = re.compile(rf"/categories/{CANONICAL_UUID}/stats")
_SEARCH = "/products"
_CATEGORY = re.compile(CANONICAL_UUID)
_LIMIT = re.compile(r"[1-9][0-9]?|100")
_SORTS = frozenset({"relevance", "price_asc", "price_desc", "newest"})
_STOCK = {"true": True, "false": False}
# What `read_requirements` reads (and validates alike on both paths).
_REQUIREMENTS = frozenset({"consistency", "min_version", "wait_ms"})
# The route's limit on the search text.
_MAX_Q = 200

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
        if _asks_strong(scope["query_string"]):
            await self.app(scope, receive, send)  # the route reads the write database
            return
        path = scope["path"]
        match = _DETAIL.fullmatch(path)
        if match is None:
            query: Query | None = None
            if path == _SEARCH:
                query = _plain_search(scope["query_string"])
            else:
                stats = _STATS.fullmatch(path)
                if stats is not None:
                    query = GetCategoryStats(category_id=stats.group(1))
            if query is None:
                await self.app(scope, receive, send)
            else:
                await self._through_bus(scope, receive, send, query)
            return
        detail = self.catalog.detail_cache
        if detail is None:
            await self._through_bus(scope, receive, send, GetProduct(product_id=match.group(1)))
            return
        try:
            min_version, timeout, if_none_match = await _requirements(
                scope, receive, self.catalog.sessions
            )
            product_id = match.group(1)
            found = detail.lookup(product_id, min_version)
            if found is None:
                found = await detail.load(product_id, min_version, timeout)
        except Exception as exc:
            await problem_response(from_exception(exc))(scope, receive, send)
            return
        await _send_document(send, found[0], found[1], if_none_match)

    async def _through_bus(self, scope: Scope, receive: Receive, send: Send, query: Query) -> None:
        """The answer `query_response` makes, sent as a product document is: kept in
        memory where the catalog keeps answers of this query (`answers`)."""
        cached = self.catalog.answers.get(type(query))
        try:
            min_version, timeout, if_none_match = await _requirements(
                scope, receive, self.catalog.sessions
            )
            if cached is None:
                result = await self.catalog.query_bus.ask(
                    query, min_version=min_version, timeout=timeout
                )
                found = (result.read_version, Document.of(orjson.dumps(result.value)))
            else:
                found = await cached.answer(query, min_version, timeout)
        except Exception as exc:
            await problem_response(from_exception(exc))(scope, receive, send)
            return
        await _send_document(send, found[0], found[1], if_none_match)


def _asks_strong(query_string: bytes) -> bool:
    """Whether the query string asks for `consistency=strong` (`edge.asks_strong`): the
    word can only be there as it is or percent-encoded."""
    if b"strong" not in query_string and b"%" not in query_string:
        return False
    return QueryParams(query_string).get("consistency") == "strong"


def _plain_search(query_string: bytes) -> SearchProducts | None:
    """The search the query string asks for, if the route would take every parameter as
    it is (decoded as the route decodes them); else None, and the route validates it."""
    params = QueryParams(query_string)
    if len(params) != len(params.multi_items()):
        return None  # a repeated parameter
    q: str | None = None
    category: str | None = None
    in_stock: bool | None = None
    sort, limit = "relevance", 20
    for name, value in params.items():
        if name == "q" and 0 < len(value) <= _MAX_Q:
            q = value
        elif name == "category" and _CATEGORY.fullmatch(value):
            category = value
        elif name == "in_stock" and value in _STOCK:
            in_stock = _STOCK[value]
        elif name == "sort" and value in _SORTS:
            sort = value
        elif name == "limit" and _LIMIT.fullmatch(value):
            limit = int(value)
        elif name not in _REQUIREMENTS:
            return None
    return SearchProducts(q=q, category=category, in_stock=in_stock, sort=sort, limit=limit)


async def _requirements(
    scope: Scope, receive: Receive, sessions: Sessions
) -> tuple[int, float, bytes | None]:
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
    min_version, timeout = await read_requirements(Request(scope, receive), sessions)
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
        NOSNIFF,
    ]
    if if_none_match is not None and _matches(if_none_match, document.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-length", str(len(document.body)).encode()))
    headers.append(_JSON)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": document.body})
