"""Schemathesis fuzzes every operation of the live server's `/openapi.json`.

Each operation gets a bounded, derandomized number of generated requests (positive and
negative data; path ids sometimes pointing at seeded aggregates), all sent with the admin
token. A response must not be a 5xx, must match what the document declares for it, and
every 4xx must be an `application/problem+json` problem document.

The operations come from the live document at run time, so a new endpoint is fuzzed
without touching this file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.e2e.conftest import deploy
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_EXAMPLES = 25

# Server-sent event streams never end, so a request/response fuzzer cannot judge them.
STREAMING_PREFIX = "/stream/"


class Tally:
    """How many generated requests were sent, per operation."""

    def __init__(self) -> None:
        self.by_operation: dict[str, int] = {}

    def add(self, label: str) -> None:
        self.by_operation[label] = self.by_operation.get(label, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


def _seed(client: httpx.Client) -> dict[str, str]:
    """Real ids for path parameters: a category, a product, a cart and an order."""
    category = client.post("/categories", json={"name": "Fuzzed"}).json()["id"]
    product = client.post(
        "/products",
        json={
            "sku": "FUZZ-1",
            "name": "Fuzzed product",
            "category_id": category,
            "price": "9.99",
            "initial_stock": 1000,
        },
    ).json()["id"]
    cart, ordered = str(uuid.uuid4()), str(uuid.uuid4())
    for target in (cart, ordered):
        added = client.post(f"/carts/{target}/items", json={"product_id": product, "quantity": 1})
        assert added.status_code in (200, 201), added.text
    order = client.post(f"/carts/{ordered}/checkout").json()["id"]
    return {"category_id": category, "product_id": product, "cart_id": cart, "order_id": order}


def problem_json_for_4xx(
    _ctx: schemathesis.CheckContext, response: schemathesis.Response, _case: schemathesis.Case
) -> bool | None:
    """Every client error is an RFC 9457 problem document."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.split(";")[0].strip() == "application/problem+json", (
            f"{response.status_code} answered with content-type {content_type!r}"
        )
        body = response.json()
        assert {"type", "title", "status", "detail"} <= body.keys(), body
        assert body["status"] == response.status_code, body
    return None


def _except_client_errors(check: Any) -> Any:
    """`check`, but silent on 4xx: those follow the problem contract of api.md instead."""

    def wrapped(
        ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
    ) -> bool | None:
        if 400 <= response.status_code < 500:
            return None
        return check(ctx, response, case)  # type: ignore[no-any-return]

    wrapped.__name__ = check.__name__
    return wrapped


# 4xx are held to `problem_json_for_4xx` here, and to the Problem schema the document
# publishes for them in the second test.
CHECKS = [
    not_a_server_error,
    _except_client_errors(content_type_conformance),
    _except_client_errors(response_schema_conformance),
    problem_json_for_4xx,
]
STRICT_CHECKS = [content_type_conformance, response_schema_conformance]


class Fuzzer:
    def __init__(self, schema: Any, ids: dict[str, str]) -> None:
        self.schema = schema
        self.ids = ids
        self.tally = Tally()
        self.operations: dict[str, Any] = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith(STREAMING_PREFIX):
                self.operations[operation.label] = operation

    def run(self, label: str, checks: list[Any]) -> None:
        """Fuzz one operation; raises the first failing check (not shrunk)."""
        operation = self.operations[label]
        names = {parameter.name for parameter in operation.path_parameters}
        real = {name: value for name, value in self.ids.items() if name in names}
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            if real:
                strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def fuzz(case: schemathesis.Case) -> None:
            self.tally.add(label)
            case.call_and_validate(headers=ADMIN, checks=checks, timeout=15)

        fuzz()


@pytest.fixture(scope="module")
def fuzzer(
    profile: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fuzzer]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    srv = deploy(profile, root / "data")
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, headers=ADMIN, timeout=10) as client:
            ids = _seed(client)
        schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json", timeout=10)
        runner = Fuzzer(schema, ids)
        yield runner
    finally:
        srv.stop()
    tally = runner.tally
    operations = len(tally.by_operation)
    lines = [f"schemathesis: {tally.total} generated cases over {operations} operations"]
    lines += [f"  {count:4d}  {label}" for label, count in sorted(tally.by_operation.items())]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


def _fuzz_all(fuzzer: Fuzzer, request: pytest.FixtureRequest, checks: list[Any]) -> None:
    before = fuzzer.tally.total
    failures: dict[str, str] = {}
    try:
        for label in fuzzer.operations:
            try:
                fuzzer.run(label, checks)
            except (Exception, FailureGroup) as exc:
                failures[label] = f"{type(exc).__name__}: {exc}"
    finally:
        request.node.user_properties.append(("generated_cases", fuzzer.tally.total - before))
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())


def test_fuzz_every_operation(fuzzer: Fuzzer, request: pytest.FixtureRequest) -> None:
    assert fuzzer.operations, "the live document lists no operations"
    _fuzz_all(fuzzer, request, CHECKS)


def test_fuzz_error_responses_match_document(
    fuzzer: Fuzzer, request: pytest.FixtureRequest
) -> None:
    _fuzz_all(fuzzer, request, STRICT_CHECKS)
