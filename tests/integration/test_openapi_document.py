"""The OpenAPI document: valid, complete where the contract is shared, and the same
operations, parameters and statuses as `docs/api.md` says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from catalog.api.app import create_app
from catalog.api.openapi import COMMAND_PARAMETERS, QUERY_PARAMETERS
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.tokens.verifier import TokenVerifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
READ_CONTROLS = {p["name"] for p in QUERY_PARAMETERS}
COMMAND_HEADERS = {p["name"] for p in COMMAND_PARAMETERS}
ROW = re.compile(
    r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S*)` \| `(\w+)` \|\s*(.*?)\s*\|\s*([\d, ]+?)\s*\|$"
)


@pytest.fixture
def document(catalog: EmbeddedRuntime) -> dict[str, Any]:
    schema: dict[str, Any] = create_app(catalog, TokenVerifier("t" * 40)).openapi()
    return schema


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, set[str], set[str]]]:
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            names = {p["name"] for p in operation.get("parameters", [])}
            found[f"{method.upper()} {path}"] = (
                operation["operationId"],
                names,
                set(operation["responses"]),
            )
    return found


def _documented() -> dict[str, tuple[str, set[str], set[str]]]:
    found = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        method, path, operation_id, parameters, statuses = match.groups()
        names: set[str] = set()
        for part in filter(None, (p.strip() for p in parameters.split(","))):
            if part == "*read controls*":
                names |= READ_CONTROLS
            elif part == "*command headers*":
                names |= COMMAND_HEADERS
            else:
                names.add(part.strip("`"))
        found[f"{method} {path}"] = (operation_id, names, set(statuses.replace(" ", "").split(",")))
    return found


def test_the_document_validates_as_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_the_api_page_names_every_operation_parameter_and_status(
    document: dict[str, Any],
) -> None:
    published, documented = _operations(document), _documented()
    assert sorted(published) == sorted(documented)
    for operation, described in documented.items():
        assert published[operation] == described, operation


def test_every_answer_is_typed_and_every_problem_described(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                where = f"{method.upper()} {path} {status}"
                content = response.get("content", {})
                if status == "304":
                    assert not content, where
                    continue
                assert content, where
                for media, body in content.items():
                    assert body.get("schema") not in (None, {}), where
                    if status.startswith(("4", "5")) and media == "application/problem+json":
                        assert body["schema"] == {"$ref": "#/components/schemas/Problem"}
                if status in ("429", "503") and "application/problem+json" in content:
                    assert "Retry-After" in response["headers"], where


def test_queries_declare_their_controls_and_version_headers(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "queries" not in operation.get("tags", ()):
                continue
            names = {p["name"] for p in operation["parameters"]}
            assert names >= READ_CONTROLS, path
            assert {"X-Read-Version", "ETag"} <= set(operation["responses"]["200"]["headers"])
            assert "503" in operation["responses"], (method, path)


def test_commands_that_create_declare_the_location(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for operation in item.values():
            if "commands" not in operation.get("tags", ()):
                continue
            created = operation["responses"].get("201")
            if created is not None:
                assert "Location" in created["headers"], path


def test_streams_declare_their_events_and_the_shape_of_each(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    streams = [p for p in document["paths"] if p.startswith("/stream/")]
    assert streams
    for path in streams:
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"], path
        events = content["text/event-stream"]["x-events"]
        assert events, path
        for reference in events.values():
            assert reference["$ref"].removeprefix("#/components/schemas/") in schemas
