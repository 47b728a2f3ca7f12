"""Schemathesis fuzzes every operation of the live server's `/openapi.json`.

Each operation gets a bounded, derandomized number of generated requests (positive and
negative data; path ids sometimes pointing at seeded aggregates), all sent with the admin
token. A response must not be a 5xx (but the documented 503 of a read asking for a
version no read model has reached), must match the status, headers and body the
document declares for it, and every 4xx must be an `application/problem+json` problem
document.

The operations come from the live document at run time, so a new endpoint is fuzzed
without touching this file.

The stateful test walks the document's OpenAPI links (create a category, then a product
in it, put it in a cart, check out, read and cancel the order, ...) as a
schemathesis state machine, so generated requests reach aggregates created a step
earlier rather than only ids the fuzzer made up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import Bundle, rule
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import deploy
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_EXAMPLES = 15
# The longest a fuzzed read waits for a version it asks for (the contract allows 10 s).
WAIT_MS = 50

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


def no_server_error_but_a_read_ahead(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """No 5xx, except the documented 503 of a read asking for a version no read model
    has reached (`min_version`, `X-Min-Version` are fuzzed like any parameter)."""
    if response.status_code == 503 and response.json().get("type") == "read-model-behind":
        return None
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


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
    no_server_error_but_a_read_ahead,
    _except_client_errors(content_type_conformance),
    _except_client_errors(response_schema_conformance),
    problem_json_for_4xx,
]
# Every answer, errors included: a status the document does not list for the operation,
# a declared header missing or malformed, or a body off its schema fails.
STRICT_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


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
            if case.method == "GET" and "wait_ms" in operation.query:
                # A read asking for a version no read model has reached answers 503 once
                # its wait is over: the default 2 s would make the run crawl.
                case.query = dict(case.query or {})
                wait = case.query.get("wait_ms")
                if wait is None or (isinstance(wait, int) and wait > WAIT_MS):
                    case.query["wait_ms"] = WAIT_MS
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


# --- stateful: following the document's links ------------------------------------------------

STATEFUL_SCENARIOS = 40
STATEFUL_STEPS = 8
STATEFUL_BUDGET = 20.0  # seconds per profile
STATEFUL_CHUNK = 8  # scenarios per run of the state machine


class StatefulTally:
    """Steps taken by the state machine, and how many of them followed a link."""

    def __init__(self) -> None:
        self.steps = 0
        self.transitions = 0
        self.scenarios = 0
        self.restarts = 0
        self.linked = 0
        self.by_status: dict[int, int] = {}
        self.links: set[str] = set()


class References:
    """Steers generated bodies towards aggregates that exist.

    The document cannot say that `category_id` must name an existing category, nor
    that text must be printable, so most generated creates would be refused and the
    links behind them never followed. Ids in bodies are pointed at aggregates created
    earlier in the run, text loses its control characters and whole-number floats
    become integers. Refusals of the raw data are the stateless tests' business.
    """

    COUNTS = ("quantity", "initial_stock", "delta")

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {"category_id": [], "product_id": []}

    def learn(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if response.status_code != 201 or case.method != "POST":
            return
        kind = {"/categories": "category_id", "/products": "product_id"}.get(case.path)
        if kind is not None:
            self.ids[kind].append(str(response.json()["id"]))

    def steer(self, case: schemathesis.Case) -> None:
        body = case.body
        if not isinstance(body, dict):
            return
        for key, value in list(body.items()):
            if isinstance(value, str):
                body[key] = "".join(ch for ch in value if ch.isprintable()) or "x"
            elif key in self.COUNTS and isinstance(value, float) and value.is_integer():
                body[key] = int(value)
        for key, known in (
            ("category_id", self.ids["category_id"]),
            ("parent_id", self.ids["category_id"]),
            ("product_id", self.ids["product_id"]),
        ):
            if body.get(key) is not None and body[key] not in known:
                if known:
                    body[key] = known[len(known) // 2]
                elif key == "parent_id":
                    del body[key]


def _state_machine(schema: Any, tally: StatefulTally) -> Any:
    base = schema.as_state_machine()
    references = References()
    # Schemathesis starts scenarios only at operations it judges likely to succeed,
    # and cannot judge POST /categories (nothing in the document produces a parent
    # category for it); it is where the links begin, so it is a start too. Its answer
    # joins the bundle of its outgoing links like any other step's.
    root = next(iter(base.root_rules))
    catch_all = getattr(base, root).hypothesis_stateful_rule.targets[0]
    create_category = schema["/categories"]["POST"].as_strategy(
        generation_mode=GenerationMode.POSITIVE
    )

    class Machine(base):  # type: ignore[misc, valid-type]
        @rule(target=Bundle(catch_all), input=create_category.map(StepInput.initial))
        def create_category_first(self, input: Any) -> Any:
            # Recorded like every generated root, so the steps it feeds find their parent.
            self.recorder.record_case(case=input.case)
            return self._step(input)

        def setup(self) -> None:
            tally.scenarios += 1

        def step(self, input: Any) -> Any:
            tally.steps += 1
            if input.transition is not None:
                tally.transitions += 1
                if input.is_applied:
                    tally.linked += 1
                    tally.links.add(input.transition.id)
            return super().step(input)

        def before_call(self, case: schemathesis.Case) -> None:
            references.steer(case)
            # The admin token, whatever Authorization header was generated.
            case.headers = {**(case.headers or {}), **ADMIN}

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"timeout": 15}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            tally.by_status[response.status_code] = tally.by_status.get(response.status_code, 0) + 1
            references.learn(case, response)

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    return Machine


def _run_within_budget(machine: Any, tally: StatefulTally) -> None:
    """Run scenarios until `STATEFUL_SCENARIOS` ran or `STATEFUL_BUDGET` seconds passed.

    The server keeps its state between scenarios, so a replayed choice can meet another
    answer (a name taken since, a product sold out); Hypothesis reports that as a flaky
    strategy. As schemathesis' own runner does, that ends the run, and a fresh one
    continues with what is left of the budget. A failed check is raised as it is.
    """
    deadline = time.monotonic() + STATEFUL_BUDGET
    while tally.scenarios < STATEFUL_SCENARIOS and time.monotonic() < deadline:
        try:
            # In runs of a few scenarios, so that the budget is looked at between them.
            machine.run(
                settings=settings(
                    max_examples=min(STATEFUL_CHUNK, STATEFUL_SCENARIOS - tally.scenarios),
                    stateful_step_count=STATEFUL_STEPS,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except Flaky:
            tally.restarts += 1


def test_stateful_fuzzing_along_the_links(
    profile: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    root: Path = tmp_path_factory.mktemp("stateful")
    srv = deploy(profile, root / "data")
    tally = StatefulTally()
    started = time.monotonic()
    try:
        srv.start()
        document = httpx.get(f"{srv.url}/openapi.json", timeout=10).json()
        published = {
            name
            for item in document["paths"].values()
            for operation in item.values()
            for response in operation.get("responses", {}).values()
            for name in response.get("links", {})
        }
        assert {"CreateProductInCategory", "AddToCart", "Checkout", "GetOrder", "RevokeToken"} <= (
            published
        )
        schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json", timeout=10).exclude(
            path_regex=f"^{STREAMING_PREFIX}"
        )
        # Negative data is the other tests' business: here, valid requests go deeper.
        schema.config.generation.update(modes=[GenerationMode.POSITIVE])
        # The document's own links only: inferred ones guess from response shapes.
        schema.config.phases.stateful.inference.algorithms = []
        _run_within_budget(_state_machine(schema, tally), tally)
    finally:
        srv.stop()
        elapsed = time.monotonic() - started
        request.node.user_properties.append(("stateful_steps", tally.steps))
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(
                f"\nschemathesis stateful ({profile}): {tally.steps} requests in"
                f" {tally.scenarios} scenarios ({tally.restarts} restarts),"
                f" {tally.transitions} transitions, {tally.linked} along {len(tally.links)} links,"
                f" statuses {dict(sorted(tally.by_status.items()))}, {elapsed:.1f}s"
            )
    assert tally.linked > 0, "the state machine never followed a link"
