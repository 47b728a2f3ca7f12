"""The OpenAPI document: what the routes declare, completed with the rules of the HTTP
contract that hold for every query or every command.

Routes declare their own parameters, bodies and success shapes. This module adds what
they share and read by hand at the edge (`catalog.api.edge`): the consistency controls
of every query (`min_version`, `consistency`, `wait_ms`, `X-Min-Version`, the
read-your-writes cookies, `If-None-Match`) with the headers and statuses of their
answers; the `Idempotency-Key`, `X-Correlation-ID` and `If-Match` of commands with
`ETag` and `Location`; and every status an operation can answer, each with the problem
schema. Operation ids are the route functions' names, which generated clients use.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from catalog.api import links
from catalog.api.edge import LOG_COOKIE, MAX_VERSION, RV_COOKIE
from catalog.api.problems import PROBLEM, PROBLEM_SCHEMA
from catalog.api.progress import ProgressEvent

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
READ_HEADERS = {
    "X-Read-Version": {
        "description": "The checkpoint of the read model that served the answer.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
    },
    "ETag": {"description": "The answer's entity tag.", "schema": {"type": "string"}},
}
AGGREGATE_ETAG = {
    "ETag": {
        "description": 'The aggregate\'s version after the command, as `"<version>"`: the'
        " `If-Match` of the next command on it.",
        "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
    }
}
SESSION_COOKIES = {
    "Set-Cookie": {
        "description": f"`{RV_COOKIE}=<version>` (the read-your-writes version later reads"
        f" wait for) and `{LOG_COOKIE}=<log identity>`; `Path=/; SameSite=Lax; HttpOnly`.",
        "schema": {"type": "string"},
    }
}
LOCATION = {
    "Location": {"description": "Where the created resource is read.", "schema": {"type": "string"}}
}

_VERSION = {"type": "integer", "minimum": 0, "maximum": MAX_VERSION}
CONSISTENCY = {
    "title": "Consistency",
    "type": "string",
    "enum": ["session", "eventual", "strong"],
    "description": "`session`: at least the session's own writes; `eventual`: any version;"
    " `strong`: from the write database at the log head.",
}
_MODES = "`session` honours the read-your-writes cookie; `eventual` ignores it"


def _read_controls(consistency: dict[str, Any], described: str) -> list[dict[str, Any]]:
    """A read's parameters: versions, consistency (`consistency`, `described`), waiting,
    entity tags and the session's cookies."""
    return [
        {
            "name": "min_version",
            "in": "query",
            "required": False,
            "description": "Answer from a read model at or past this log position; wait for it"
            " up to `wait_ms`, then answer 503 `read-model-behind`.",
            "schema": _VERSION,
        },
        {
            "name": "consistency",
            "in": "query",
            "required": False,
            "description": described,
            "schema": consistency,
        },
        {
            "name": "wait_ms",
            "in": "query",
            "required": False,
            "description": "How long to wait for the minimum version, in milliseconds.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 2000},
        },
        {
            "name": "X-Min-Version",
            "in": "header",
            "required": False,
            "description": "As `min_version` (decimal digits); the larger of the two applies.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,16}$"},
        },
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "Entity tags the client holds: a match is answered 304.",
            "schema": {"type": "string"},
        },
        {
            "name": RV_COOKIE,
            "in": "cookie",
            "required": False,
            "description": "The version of the session's last command (set by every command):"
            f" waited for like `min_version`, unless `{LOG_COOKIE}` names another log or the"
            " log holds no such version.",
            "schema": _VERSION,
        },
        {
            "name": LOG_COOKIE,
            "in": "cookie",
            "required": False,
            "description": f"The identity of the log that issued `{RV_COOKIE}`.",
            "schema": {"type": "string"},
        },
    ]


QUERY_PARAMETERS = _read_controls(
    {"$ref": "#/components/schemas/Consistency", "default": "session"},
    f"{_MODES}; `strong` answers from the write database at the log head, past every"
    " command answered before the read (no read model, no answer kept in memory).",
)
# A stream's first document: not `strong`, since the changes that follow come from the
# read model.
STREAM_PARAMETERS = _read_controls(
    {"type": "string", "enum": ["session", "eventual"], "default": "session"}, f"{_MODES}."
)
COMMAND_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retry with the same key and body answers the first answer and"
        " changes nothing; the same key with another body is 409 `idempotency-key-reuse`."
        " Keys are per caller.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    {
        "name": "X-Correlation-ID",
        "in": "header",
        "required": False,
        "description": "Carried by every event of the command (and in the logs).",
        "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    },
]
IF_MATCH: dict[str, Any] = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The aggregate version the command expects, as `"<version>"` (the ETag of'
    " its last answer); another version is 409 `version-conflict`.",
    "schema": {"type": "string", "pattern": r'^(W/)?"?[0-9]{1,16}"?$'},
}

# Statuses and what they mean on each kind of operation.
_MEANINGS = {
    "304": "Not modified: the answer's entity tag matches `If-None-Match`.",
    "400": "A header or parameter the contract bounds is malformed.",
    "401": "A bearer token is missing or not valid.",
    "403": "The token lacks the scope, or the caller does not own the resource.",
    "404": "No such resource.",
    "409": "A business rule, a version or the resource's state refused the request"
    " (`type` says which).",
    "413": "The body is larger than the limit.",
    "422": "The request does not match the expected shape.",
    "429": "Too many failed authentications, or streams, from this client (see `Retry-After`).",
    "503": "A read model is behind the version asked for, a store is unavailable, or the"
    " server is at capacity (see `Retry-After`).",
}


# The events of each stream, by name, and the schema of their `data` (a component).
STREAM_EVENTS = {
    "/stream/progress": {"progress": "ProgressEvent", "rebuild": "RebuildProgress"},
    "/stream/products/{product_id}": {"product": "ProductDocument"},
}


def operation_id(route: APIRoute) -> str:
    """The route function's name: `get_product`, `change_price`, …"""
    return route.name


def _problem(status: str, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _MEANINGS[status],
        "content": {PROBLEM: {"schema": PROBLEM_REF}},
    }
    if status in ("429", "503"):
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


def _statuses(path: str, operation: dict[str, Any]) -> list[str]:
    tags = operation.get("tags", ())
    statuses = ["503"]
    if (
        "queries" in tags
        or "commands" in tags
        or ("push" in tags and "{" in path)
        or operation.get("requestBody")  # a body that is not JSON at all
    ):
        statuses.append("400")
    if "{" in path or "commands" in tags:
        statuses.append("404")  # the path's resource, or one a command's body names
    if operation.get("security"):
        statuses += ["401", "403", "429"]
    elif "push" in tags:
        statuses.append("429")  # too many streams from this client
    if "commands" in tags:
        statuses += ["409", "413"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("422")
    return statuses


def _query(operation: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).extend(QUERY_PARAMETERS)
    responses = operation["responses"]
    responses["200"].setdefault("headers", {}).update(READ_HEADERS)
    responses["304"] = {"description": _MEANINGS["304"], "headers": READ_HEADERS}


def _command(path: str, operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    parameters.extend(COMMAND_PARAMETERS)
    if "{" in path:
        parameters.append(IF_MATCH)
    for status, response in operation["responses"].items():
        if status in ("200", "201"):
            headers = response.setdefault("headers", {})
            headers.update(SESSION_COOKIES)
            if "{" in path:
                headers.update(AGGREGATE_ETAG)
            if status == "201":
                headers.update(LOCATION)


def _stream(path: str, operation: dict[str, Any]) -> None:
    if "{" in path:  # a stream's first document is read like any query
        operation.setdefault("parameters", []).extend(STREAM_PARAMETERS)
    events = STREAM_EVENTS.get(path, {})
    ok = operation["responses"]["200"]
    ok["content"] = {
        "text/event-stream": {
            "schema": {
                "type": "string",
                "description": "Server-sent events: `event: <name>`, `id: <log position>`"
                " where one applies, `data: <JSON>`; comment lines keep the stream alive."
                " Events: "
                + ", ".join(f"`{name}` (data: `{shape}`)" for name, shape in events.items())
                + ".",
            },
            # The schema of each event's data, by event name.
            "x-events": {
                name: {"$ref": f"#/components/schemas/{shape}"} for name, shape in events.items()
            },
        }
    }


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the contract's shared parameters, headers and statuses to `schema`."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = PROBLEM_SCHEMA
    components["Consistency"] = CONSISTENCY
    components["ProgressEvent"] = TypeAdapter(ProgressEvent).json_schema()
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            tags = operation.get("tags", ())
            statuses = _statuses(path, operation)  # from what the route itself declares
            if "queries" in tags:
                _query(operation)
            if "commands" in tags:
                _command(path, operation)
            if "push" in tags:
                _stream(path, operation)
            responses = operation.setdefault("responses", {})
            responses.pop("4XX", None)
            # Problems a route declares itself (`responses={409: …}`), and the shared ones.
            declared = [code for code in responses if code[0] in "45" and code != "422"]
            for status in dict.fromkeys([*statuses, *declared]):
                responses[status] = _problem(status, responses.get(status, {}).get("description"))
    return links.add_links(schema)


def install(app: FastAPI) -> None:
    """Publish the completed document at `/openapi.json` (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
