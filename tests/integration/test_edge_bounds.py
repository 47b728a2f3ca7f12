"""The headers, parameters and cookie the server reads are bounded at the edge: a value
it cannot take is a 400 problem (a cookie it never set is ignored), never a 500, and
nothing of it is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from catalog.api.app import create_app
from catalog.api.edge import session_version
from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from catalog.tokens.verifier import TokenVerifier

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def shop(catalog: EmbeddedRuntime) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """A client of the whole app, a product and its category."""
    bus = catalog.command_bus
    category = (await bus.dispatch(c.CreateCategory(name="Lamps"))).id
    product = (
        await bus.dispatch(
            c.CreateProduct(sku="L-1", name="Lamp", category_id=category, price=Decimal("5"))
        )
    ).id
    assert await catalog.wait_until_caught_up()
    app = create_app(catalog, TokenVerifier(TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        yield client, product, category


# Values `str.isdigit()` takes and `int()` refuses, and numbers too long to read.
NOT_NUMBERS = ["²", "①", "١٢", "1" * 5000]


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=["superscript", "circled", "arabic", "long"])
@pytest.mark.parametrize("where", ["min_version", "X-Min-Version", "wait_ms"])
async def test_a_version_or_wait_that_is_no_decimal_number_is_a_400_problem(
    shop: tuple[httpx.AsyncClient, str, str], where: str, value: str
) -> None:
    client, product, category = shop
    for path in (f"/products/{product}", f"/categories/{category}/stats", "/products"):
        if where == "X-Min-Version":
            answer = await client.get(path, headers={where.encode(): value.encode()})
        else:
            answer = await client.get(path, params={where: value})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("cookie", ["²", "1" * 40, str(2**53), "-1", "12a"])
async def test_a_read_version_cookie_the_server_never_set_is_ignored(
    shop: tuple[httpx.AsyncClient, str, str], cookie: str
) -> None:
    client, product, _ = shop
    answer = await client.get(
        f"/products/{product}",
        params={"wait_ms": "0"},
        headers={b"Cookie": f"tandem_rv={cookie}".encode()},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "correlation_id",
    ["x" * 129, "x" * 8192, "two words", "tab\there", "é"],
    ids=["129 characters", "8 KB", "a space", "a tab", "not ASCII"],
)
async def test_a_correlation_id_that_is_not_short_printable_text_is_refused_and_not_stored(
    shop: tuple[httpx.AsyncClient, str, str], catalog: EmbeddedRuntime, correlation_id: str
) -> None:
    client, product, _ = shop
    before = await catalog.log_reader.read_after(0, 1000)
    for content_type in ("application/json", "application/json; charset=utf-8"):
        answer = await client.put(
            f"/products/{product}/price",
            content=b'{"price": "7"}',
            headers={
                b"Authorization": AUTH["Authorization"].encode(),
                b"Content-Type": content_type.encode(),
                b"X-Correlation-ID": correlation_id.encode(),
            },
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"].endswith("invalid-correlation-id")
    assert await catalog.log_reader.read_after(0, 1000) == before


async def test_a_correlation_id_within_bounds_is_carried_by_the_commands_events(
    shop: tuple[httpx.AsyncClient, str, str], catalog: EmbeddedRuntime
) -> None:
    client, product, _ = shop
    answer = await client.put(
        f"/products/{product}/price",
        json={"price": "7"},
        headers={**AUTH, "X-Correlation-ID": "order-2026-12-06/42"},
    )
    assert answer.status_code == 200, answer.text
    events = await catalog.log_reader.read_after(0, 1000)
    assert events[-1].correlation_id == "order-2026-12-06/42"


async def test_a_read_version_cookie_above_the_log_is_ignored_at_the_default_wait(
    shop: tuple[httpx.AsyncClient, str, str], catalog: EmbeddedRuntime
) -> None:
    """A browser may keep a cookie from an earlier database: waiting for a version the
    log does not hold would answer 503 until the client writes again."""
    client, product, category = shop
    above = catalog.head.value + 1_000
    for path in (f"/products/{product}", f"/categories/{category}/stats", "/products"):
        answer = await client.get(path, headers={b"Cookie": f"tandem_rv={above}".encode()})
        assert answer.status_code == 200, (path, answer.text)


async def test_a_read_version_cookie_of_another_log_is_ignored(
    shop: tuple[httpx.AsyncClient, str, str], catalog: EmbeddedRuntime, tmp_path: Path
) -> None:
    """Cookies ignore ports: two deployments on one host see each other's cookies. The
    version of another log is never waited for, even where this log holds a version as
    high, and a command answers with this log's identity beside its version."""
    client, product, _ = shop
    other = build_embedded(Settings(data_dir=tmp_path / "other"))
    try:
        assert other.sessions.identity != catalog.sessions.identity
    finally:
        other.close()
    answer = await client.put(f"/products/{product}/price", json={"price": "8"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.cookies["tandem_rv"] == str(answer.json()["version"])
    assert answer.cookies["tandem_log"] == catalog.sessions.identity
    # This log's own cookie pair is waited for: the read shows the write.
    own = await client.get(f"/products/{product}")
    assert own.json()["price"] == "8.00", own.text
    assert int(own.headers["X-Read-Version"]) >= answer.json()["version"]
    # Another log's version is ignored even where this log holds one as high.
    version = catalog.head.value
    for identity, expected in (
        (other.sessions.identity, 0),
        (catalog.sessions.identity, version),
        (None, version),
    ):
        cookie = f"tandem_rv={version}" + (f"; tandem_log={identity}" if identity else "")
        request = Request({"type": "http", "headers": [(b"cookie", cookie.encode())]})
        assert await session_version(request, catalog.sessions) == expected, identity
