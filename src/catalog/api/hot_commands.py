"""The hot write path: the commands in `catalog.api.commands.HOT` served beside
FastAPI's router.

Routing, dependency solving and body parsing cost FastAPI more per command than the
command's own work on the event loop. This ASGI layer takes a request for one of these
routes only when all of it is as the route would take it: a JSON body within the size
limit that its model accepts, a bearer token with the route's scope, a canonical id,
well-formed If-Match and Idempotency-Key headers. It then builds the command with the
route's own function and answers as the route does (`commands.dispatch`, and the same
problem documents for the bus's errors). Anything else goes on to the router with the
body as it was read, and the router answers it, errors included, exactly as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.api.auth import Authenticator, client_address
from catalog.api.commands import HOT, HotCommand, dispatch
from catalog.api.limits import MAX_BODY
from catalog.api.problems import Problem, from_exception, problem_response
from catalog.runtime.contract import Runtime
from tandem.messages import Command

_CONTENT_TYPE = b"content-type"
_CONTENT_LENGTH = b"content-length"
_JSON = b"application/json"


class HotCommands:
    def __init__(
        self, app: ASGIApp, catalog: Runtime, auth: Authenticator, limit: int = MAX_BODY
    ) -> None:
        self.app = app
        # The bus is looked up per request: the services profile wires it at startup.
        self.catalog = catalog
        self.auth = auth
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = HOT.get(scope["method"]) if scope["type"] == "http" else None
        match = hot.path.fullmatch(scope["path"]) if hot is not None else None
        if hot is None or match is None or not self._json_within_limit(scope):
            await self.app(scope, receive, send)
            return
        body, complete, gone = await _read(receive, self.limit)
        if gone:
            return  # the client left before its body arrived: nothing to answer
        replay = _replaying(body, complete, receive)
        request = Request(scope, replay)
        try:
            prepared = await self._prepare(hot, match.group(1), body, request) if complete else None
        except Exception as exc:  # the caller refused, or the token store is out
            await problem_response(from_exception(exc))(scope, replay, send)
            return
        if prepared is None:
            await self.app(scope, replay, send)
            return
        command, subject = prepared
        try:
            response = await dispatch(self.catalog, request, command, subject)
        except Exception as exc:
            response = problem_response(from_exception(exc))
        await response(scope, replay, send)

    async def _prepare(
        self, hot: HotCommand, id: str, body: bytes, request: Request
    ) -> tuple[Command, str] | None:
        """The command and the caller's subject, if the route would take the request as
        it is; None for anything the route answers otherwise (an error, a conversion).

        The route reads the JSON body before it resolves the caller, and the caller
        before it validates the body: an authentication problem of a JSON body is
        raised as the route would answer it, so that the token is checked (and a
        failure counted) once."""
        try:
            fields: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        header = request.headers.get("authorization", "")
        who = await self.auth.caller(header, client_address(request.scope), hot.scope)
        try:
            command = hot.build(id, hot.body.model_validate(fields), request)
        except (Problem, ValidationError):
            return None
        return command, who.subject

    def _json_within_limit(self, scope: Scope) -> bool:
        """A body declared JSON (or not declared, which the route parses as JSON) and
        not declared longer than the limit."""
        for name, value in scope["headers"]:
            if name == _CONTENT_TYPE and value != _JSON:
                return False
            if name == _CONTENT_LENGTH and (
                not value.isdigit() or len(value) > 16 or int(value) > self.limit
            ):
                return False
        return True


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """The request body as far as `limit`: (body, complete, the client left)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body, False, True
        body += message.get("body", b"")
        if len(body) > limit:
            return body, False, False
        if not message.get("more_body", False):
            return body, True, False


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """`receive` that first hands out what was already read of the body."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
