"""Headers and cookies of the contract: tokens, If-Match, Idempotency-Key, versions."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from catalog.api import guests
from catalog.api.auth import Authenticator, client_address
from catalog.api.problems import Problem
from catalog.api.security import NOSNIFF
from catalog.read_models.documents import Document
from catalog.tokens import Principal
from tandem.bus import QueryResult
from tandem.sessions import Sessions
from tandem.uow import CommandResult

MAX_VERSION = 2**53 - 1
# An id in a path as `str(UUID)` writes it (the form every lookup matches), as a group:
# the hot paths take only this form and leave any other to the routes, which convert.
CANONICAL_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
RV_COOKIE = "tandem_rv"
# The identity of the log that issued the version in `RV_COOKIE`, set beside it.
LOG_COOKIE = "tandem_log"
_IF_MATCH = re.compile(r'^(?:W/)?"?([0-9]{1,16})"?$')
# Decimal digits as `int()` reads them: ASCII only (`str.isdigit()` also takes "²"), and
# few enough that the number is below 10^16.
_VERSION = re.compile(r"[0-9]{1,16}")
_WAIT_MS = re.compile(r"[0-9]{1,5}")
# A correlation id travels in every event of the command: short, printable ASCII.
_CORRELATION_ID = re.compile(r"[\x21-\x7e]{1,128}")


async def principal(request: Request, scope: str | None) -> Principal:
    """The caller behind the bearer token, required to hold `scope` (if given)."""
    auth: Authenticator = request.app.state.auth
    header = request.headers.get("authorization", "")
    return await auth.caller(header, client_address(request.scope), scope)


_bearer = HTTPBearer(auto_error=False, description="A token with the scopes the route needs.")


def require(scope: str | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency resolving the caller before the body is even validated."""

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return await principal(request, scope)

    return dependency


_guest_cookie = APIKeyCookie(
    name=guests.GUEST_COOKIE,
    scheme_name="GuestCookie",
    auto_error=False,
    description="A guest's cart and orders, for a request without a bearer token: the"
    " cookie the storefront and product pages set. A change must also send"
    " `X-Requested-With` and come from this same origin (`Sec-Fetch-Site`, else `Origin`),"
    " else 403 `cross-site-request`.",
)


async def customer(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _guest: Annotated[str | None, Depends(_guest_cookie)],
) -> Principal:
    """The owner of carts and orders: the bearer token's subject (with the `orders`
    scope) or, for a request without an Authorization header, the guest its cookie
    names (`catalog.api.guests`)."""
    if "authorization" not in request.headers:
        found = guests.guest(request, request.method)
        if found is not None:
            return found
    return await principal(request, "orders")


CatalogWriter = Annotated[Principal, Depends(require("catalog:write"))]
InventoryWriter = Annotated[Principal, Depends(require("inventory:write"))]
Customer = Annotated[Principal, Depends(customer)]


def if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = _IF_MATCH.match(raw.strip())
    if match is None:
        raise Problem(
            400, "invalid-if-match", "Invalid If-Match", 'If-Match must be "<aggregate version>".'
        )
    return int(match.group(1))


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > 200 or not key.isprintable():
        raise Problem(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "Idempotency-Key must be 1 to 200 printable characters.",
        )
    return key


def correlation_id(request: Request) -> str | None:
    """The request's X-Correlation-ID, which every event of its command carries."""
    raw = request.headers.get("x-correlation-id")
    if raw is None:
        return None
    if not _CORRELATION_ID.fullmatch(raw):
        raise Problem(
            400,
            "invalid-correlation-id",
            "Invalid X-Correlation-ID",
            "X-Correlation-ID must be 1 to 128 printable ASCII characters without spaces.",
            errors=[{"loc": ["X-Correlation-ID"], "msg": "1 to 128 printable characters"}],
        )
    return raw


def command_response(result: CommandResult, log_identity: str) -> Response:
    body: dict[str, Any] = {"id": result.id, "version": result.version}
    body.update({k: v for k, v in result.extra.items() if k != "aggregate_version"})
    response = Response(
        orjson.dumps(body),
        status_code=201 if result.created else 200,
        media_type="application/json",
    )
    # The one security header of the hot command path's answers (a constant, appended
    # as it is sent: `catalog.api.security`).
    response.raw_headers.append(NOSNIFF)
    aggregate_version = result.extra.get("aggregate_version")
    if aggregate_version is not None:
        response.headers["ETag"] = f'"{aggregate_version}"'
    response.set_cookie(RV_COOKIE, str(result.version), path="/", samesite="lax", httponly=True)
    response.set_cookie(LOG_COOKIE, log_identity, path="/", samesite="lax", httponly=True)
    return response


def _version(raw: str | None, name: str) -> int:
    if raw is None or raw == "":
        return 0
    if not _VERSION.fullmatch(raw) or int(raw) > MAX_VERSION:
        raise Problem(
            400,
            "invalid-version",
            "Invalid version",
            f"{name} must be an integer between 0 and {MAX_VERSION}.",
            errors=[{"loc": [name], "msg": "must be a non-negative integer below 2^53"}],
        )
    return int(raw)


# The consistency modes a read offers: `strong` is answered from the write database at
# the log head (`Runtime.strong_queries`), so only where an answer is read once.
CONSISTENCIES = ("session", "eventual", "strong")


async def read_requirements(
    request: Request, sessions: Sessions, *, strong: bool = True
) -> tuple[int, float]:
    """The effective minimum version and how long to wait for it, in seconds; `strong`:
    whether `consistency=strong` is offered (`asks_strong` tells which bus answers)."""
    params = request.query_params
    wanted = max(
        _version(params.get("min_version"), "min_version"),
        _version(request.headers.get("x-min-version"), "X-Min-Version"),
    )
    consistency = params.get("consistency", "session")
    offered = CONSISTENCIES if strong else CONSISTENCIES[:2]
    if consistency not in offered:
        raise Problem(
            400,
            "invalid-consistency",
            "Invalid consistency",
            f"consistency must be one of {', '.join(repr(mode) for mode in offered)}.",
        )
    if consistency == "session":
        wanted = max(wanted, await session_version(request, sessions))
    raw_wait = params.get("wait_ms")
    wait_ms = 2000
    if raw_wait is not None:
        if not _WAIT_MS.fullmatch(raw_wait) or int(raw_wait) > 10000:
            raise Problem(
                400,
                "invalid-wait",
                "Invalid wait_ms",
                "wait_ms must be an integer from 0 to 10000.",
                errors=[{"loc": ["wait_ms"], "msg": "must be an integer from 0 to 10000"}],
            )
        wait_ms = int(raw_wait)
    return wanted, wait_ms / 1000


def asks_strong(request: Request) -> bool:
    """Whether the read asks for `consistency=strong`: an answer from the write database
    at the log head, which reflects every command that answered before the read began."""
    return request.query_params.get("consistency") == "strong"


async def session_version(request: Request, sessions: Sessions) -> int:
    """The version of the client's read-your-writes cookie, or 0 where it could never be
    reached: not a version (the server never set it), issued by another log (a database
    since recreated, another deployment on the same host), or above the log's last
    position. Waiting for such a version would answer "read model behind" until the
    client writes again."""
    cookie = request.cookies.get(RV_COOKIE)
    if not cookie or not _VERSION.fullmatch(cookie) or int(cookie) > MAX_VERSION:
        return 0
    if not sessions.issued_here(request.cookies.get(LOG_COOKIE)):
        return 0
    version = int(cookie)
    return version if await sessions.reachable(version) else 0


def query_response(request: Request, result: QueryResult[Any]) -> Response:
    return document_response(request, result.read_version, Document.of(orjson.dumps(result.value)))


def document_response(request: Request, version: int, document: Document) -> Response:
    """An answer (encoded once, maybe kept in memory) at the version it holds at."""
    etag = document.etag.decode()
    headers = {"X-Read-Version": str(version), "ETag": etag, "Cache-Control": "no-cache"}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/json", headers=headers)
