"""RFC 9457 problem responses, and the one table mapping every error to one."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from catalog.api.outages import store_unavailable
from catalog.api.security import NOSNIFF
from catalog.domain.errors import DomainError, InvalidInput, NotFound, NotOwner
from tandem.errors import (
    ConcurrencyConflict,
    EventTooLarge,
    IdempotencyKeyReuse,
    ProjectionFailed,
    ReadModelBehind,
    TandemError,
)

log = logging.getLogger("catalog.api")

PROBLEM = "application/problem+json"

# The shape of every error response, as published in the OpenAPI document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}


class Problem(Exception):
    """An HTTP problem raised at the edge (auth, headers, limits)."""

    def __init__(
        self,
        status: int,
        type: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem_response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    response = Response(
        orjson.dumps(body), status_code=problem.status, media_type=PROBLEM, headers=problem.headers
    )
    response.raw_headers.append(NOSNIFF)  # the hot paths' one security header
    return response


def from_exception(exc: Exception) -> Problem:
    """The single mapping from the toolkit's and the domain's errors to HTTP."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, InvalidInput):
        return Problem(
            422,
            "invalid-input",
            "Invalid input",
            str(exc),
            errors=[{"loc": [exc.field], "msg": exc.message}],
        )
    if isinstance(exc, NotFound):
        return Problem(404, "not-found", "Not found", str(exc))
    if isinstance(exc, NotOwner):
        return Problem(403, "forbidden", "Forbidden", str(exc))
    if isinstance(exc, DomainError):
        return Problem(409, exc.code, "Business rule violated", str(exc))
    if isinstance(exc, ConcurrencyConflict):
        return Problem(409, "version-conflict", "Version conflict", str(exc))
    if isinstance(exc, IdempotencyKeyReuse):
        return Problem(409, "idempotency-key-reuse", "Idempotency key reused", str(exc))
    if isinstance(exc, EventTooLarge):
        return Problem(413, "event-too-large", "Event too large", str(exc))
    if isinstance(exc, ReadModelBehind):
        return Problem(
            503, "read-model-behind", "Read model behind", str(exc), headers={"Retry-After": "1"}
        )
    if isinstance(exc, ProjectionFailed):
        return Problem(
            503,
            "projection-failed",
            "Read model unavailable",
            str(exc),
            headers={"Retry-After": "5"},
        )
    if store_unavailable(exc):
        log.warning("store unavailable: %s", type(exc).__name__)
        return Problem(
            503,
            "store-unavailable",
            "Store unavailable",
            "A store the request needs cannot serve it now; retry later.",
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error", exc_info=exc)
    return Problem(500, "internal-error", "Internal error", "The server could not answer.")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]


def install(app: FastAPI, *, outages: tuple[type[BaseException], ...] = ()) -> None:
    """Answer every error as a problem document; `outages`: driver errors that mean a store
    cannot serve now (answered 503 without a logged traceback)."""

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            Problem(
                422,
                "validation-error",
                "Invalid request",
                "The request does not match the expected shape.",
                errors=_validation_errors(exc),
            )
        )

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem_response(
            Problem(
                exc.status_code,
                title.lower().replace(" ", "-"),
                title,
                str(exc.detail),
                headers=dict(exc.headers or {}),
            )
        )

    async def on_error(_request: Request, exc: Exception) -> Response:
        return problem_response(from_exception(exc))

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Expected failures (outages of the stores whose drivers are loaded by now included)
    # go through the exception middleware; only a bug reaches the catch-all, which
    # answers a bare 500 and lets the server log the traceback.
    for expected in (Problem, DomainError, TandemError, ConnectionError, *outages):
        app.add_exception_handler(expected, on_error)
    app.add_exception_handler(Exception, on_error)
