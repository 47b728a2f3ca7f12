"""The authorization matrix: every operation of the live `/openapi.json` by every caller.

Callers: no token, malformed `Authorization` headers, a well-formed token the server
never issued, valid tokens that lack the operation's scope, another customer (for carts
and orders), the right caller and the admin. Each cell has one expected outcome:

- public operations answer every caller alike (the `Authorization` header is ignored);
- without a valid token: 401 problem with `WWW-Authenticate`, and nothing written;
- a valid token without the scope: 403 problem, nothing written;
- another customer's cart or order: 403 problem (api.md: "does not own the resource");
- the right caller and the admin: the operation's own answer, never 401/403.

The operations are read from the live document, and the test fails when one has no row
here (or a row names an operation the document no longer has), so a new endpoint cannot
be left out.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, deploy
from tests.support.server import ADMIN_TOKEN
from tests.support.status import settled_head

PUBLIC = None
# Reads at a version wait up to this long: a loaded machine's read models lag.
WAIT_MS = 10_000


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)

# Not a token the server could accept, in every shape a header can take.
MALFORMED = {
    "bearer without token": {"Authorization": "Bearer"},
    "bearer with a placeholder": {"Authorization": "Bearer null"},
    "basic scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "token without scheme": {"Authorization": ADMIN_TOKEN},
    "admin token with a suffix": bearer(ADMIN_TOKEN + "x"),
    "admin token cut short": bearer(ADMIN_TOKEN[:-1]),
    "two tokens": {"Authorization": f"Bearer {ADMIN_TOKEN} {ADMIN_TOKEN}"},
}
FORGED = {
    "unknown token": bearer("tdm_" + "A" * 43),
    # What the server stores is not a credential.
    "digest of the admin token": bearer(hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()),
}


@dataclass
class Request:
    """One concrete call: path (ids filled in), body, query parameters."""

    path: str
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """What an operation needs and how the right caller's call answers."""

    scope: str | None
    make: Callable[[World, str], Request]
    """Builds the call for the given caller (`admin`, `alice`, …): fresh aggregates
    where the call consumes one."""
    ok: frozenset[int]
    owned: bool = False


class World:
    """A deployment with issued tokens and a few aggregates to aim at."""

    def __init__(self, server: Deployment, tokens: dict[str, str]) -> None:
        self.server = server
        self.tokens = tokens
        self.client = httpx.Client(base_url=server.url, timeout=30)
        self.category = self._created("/categories", {"name": "Authz"}, ADMIN)["id"]
        self.product = self.new_product()
        self.projection = "category_stats"

    def headers(self, caller: str) -> dict[str, str]:
        return ADMIN if caller == "admin" else bearer(self.tokens[caller])

    def _created(self, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def new_product(self) -> str:
        body = {
            "sku": f"AUTHZ-{uuid.uuid4().hex[:12]}",
            "name": "Guarded",
            "category_id": self.category,
            "price": "3.00",
            "initial_stock": 1000,
        }
        return str(self._created("/products", body, ADMIN)["id"])

    def new_token(self) -> str:
        """The id of a fresh customer token (to revoke)."""
        body = {"subject": "revocable", "scopes": ["orders"]}
        return str(self._created("/admin/tokens", body, ADMIN)["id"])

    def new_cart(self, owner: str) -> tuple[str, int]:
        """A cart of `owner` holding one line; returns its id and the write's version."""
        cart = str(uuid.uuid4())
        line = {"product_id": self.product, "quantity": 1}
        added = self._created(f"/carts/{cart}/items", line, self.headers(owner))
        return cart, int(added["version"])

    def new_order(self, owner: str) -> tuple[str, int]:
        cart, _ = self.new_cart(owner)
        placed = self.client.post(f"/carts/{cart}/checkout", headers=self.headers(owner))
        assert placed.status_code == 201, placed.text
        return str(placed.json()["id"]), int(placed.json()["version"])

    def head(self) -> int:
        """The log head once every API process behind the URL reports the same one."""
        return settled_head(self.client)


def _cart_read(w: World, owner: str) -> Request:
    cart, version = w.new_cart(owner)
    return Request(f"/carts/{cart}", params={"min_version": version, "wait_ms": WAIT_MS})


def _order_read(w: World, owner: str) -> Request:
    order, version = w.new_order(owner)
    return Request(f"/orders/{order}", params={"min_version": version, "wait_ms": WAIT_MS})


def _cart_removal(w: World, owner: str) -> Request:
    cart, _ = w.new_cart(owner)
    return Request(f"/carts/{cart}/items/{w.product}")


def _new_sku(w: World, _owner: str) -> Request:
    body = {"sku": f"AZ-{uuid.uuid4().hex[:10]}", "name": "N", "category_id": w.category}
    return Request("/products", {**body, "price": "1.00"})


OK = frozenset({200})
CREATED = frozenset({201})
# Admin operations on things that may not exist: their own 404/409, never 401/403.
ADMIN_LOOKUP = frozenset({200, 404, 409})

ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/categories"): Row(PUBLIC, lambda w, _: Request("/categories"), OK),
    ("GET", "/categories/{category_id}/stats"): Row(
        PUBLIC, lambda w, _: Request(f"/categories/{w.category}/stats"), OK
    ),
    ("GET", "/products"): Row(PUBLIC, lambda w, _: Request("/products"), OK),
    ("GET", "/products/{product_id}"): Row(
        PUBLIC, lambda w, _: Request(f"/products/{w.product}"), OK
    ),
    ("GET", "/products/{product_id}/price-history"): Row(
        PUBLIC, lambda w, _: Request(f"/products/{w.product}/price-history"), OK
    ),
    ("GET", "/analytics/sales"): Row(PUBLIC, lambda w, _: Request("/analytics/sales"), OK),
    ("GET", "/status"): Row(PUBLIC, lambda w, _: Request("/status"), OK),
    ("GET", "/metrics"): Row(PUBLIC, lambda w, _: Request("/metrics"), OK),
    ("GET", "/healthz"): Row(PUBLIC, lambda w, _: Request("/healthz"), OK),
    ("GET", "/readyz"): Row(PUBLIC, lambda w, _: Request("/readyz"), OK),
    ("GET", "/stream/progress"): Row(PUBLIC, lambda w, _: Request("/stream/progress"), OK),
    ("GET", "/stream/products/{product_id}"): Row(
        PUBLIC, lambda w, _: Request(f"/stream/products/{w.product}"), OK
    ),
    ("POST", "/categories"): Row(
        "catalog:write", lambda w, _: Request("/categories", {"name": "Allowed"}), CREATED
    ),
    ("PATCH", "/categories/{category_id}"): Row(
        "catalog:write", lambda w, _: Request(f"/categories/{w.category}", {"name": "Re"}), OK
    ),
    ("POST", "/products"): Row("catalog:write", _new_sku, CREATED),
    ("PATCH", "/products/{product_id}"): Row(
        "catalog:write", lambda w, _: Request(f"/products/{w.product}", {"name": "Renamed"}), OK
    ),
    ("PUT", "/products/{product_id}/price"): Row(
        "catalog:write", lambda w, _: Request(f"/products/{w.product}/price", {"price": "4.00"}), OK
    ),
    ("DELETE", "/products/{product_id}"): Row(
        "catalog:write", lambda w, _: Request(f"/products/{w.new_product()}"), OK
    ),
    ("POST", "/products/{product_id}/stock-adjustments"): Row(
        "inventory:write",
        lambda w, _: Request(
            f"/products/{w.product}/stock-adjustments", {"delta": 1, "reason": "count"}
        ),
        OK,
    ),
    ("POST", "/carts/{cart_id}/items"): Row(
        "orders",
        lambda w, owner: Request(
            f"/carts/{w.new_cart(owner)[0]}/items", {"product_id": w.product, "quantity": 1}
        ),
        OK,
        owned=True,
    ),
    ("DELETE", "/carts/{cart_id}/items/{product_id}"): Row("orders", _cart_removal, OK, owned=True),
    ("POST", "/carts/{cart_id}/checkout"): Row(
        "orders",
        lambda w, owner: Request(f"/carts/{w.new_cart(owner)[0]}/checkout"),
        CREATED,
        owned=True,
    ),
    ("GET", "/carts/{cart_id}"): Row("orders", _cart_read, OK, owned=True),
    ("POST", "/orders/{order_id}/cancel"): Row(
        "orders",
        lambda w, owner: Request(f"/orders/{w.new_order(owner)[0]}/cancel"),
        OK,
        owned=True,
    ),
    ("GET", "/orders/{order_id}"): Row("orders", _order_read, OK, owned=True),
    ("POST", "/admin/projections/{name}/rebuild"): Row(
        "admin",
        lambda w, _: Request(f"/admin/projections/{w.projection}/rebuild"),
        frozenset({202, 404, 409}),
    ),
    ("GET", "/admin/projections/{name}/rebuild"): Row(
        "admin", lambda w, _: Request(f"/admin/projections/{w.projection}/rebuild"), ADMIN_LOOKUP
    ),
    ("DELETE", "/admin/projections/{name}/rebuild"): Row(
        "admin", lambda w, _: Request(f"/admin/projections/{w.projection}/rebuild"), ADMIN_LOOKUP
    ),
    ("GET", "/admin/dead-letters"): Row("admin", lambda w, _: Request("/admin/dead-letters"), OK),
    ("POST", "/admin/tokens"): Row(
        "admin",
        lambda w, _: Request("/admin/tokens", {"subject": "minted", "scopes": ["orders"]}),
        CREATED,
    ),
    ("GET", "/admin/tokens"): Row("admin", lambda w, _: Request("/admin/tokens"), OK),
    ("DELETE", "/admin/tokens/{token_id}"): Row(
        "admin", lambda w, _: Request(f"/admin/tokens/{w.new_token()}"), OK
    ),
    ("POST", "/admin/dead-letters/{projection}/{aggregate_id}/retry"): Row(
        "admin",
        lambda w, _: Request(f"/admin/dead-letters/{w.projection}/{w.product}/retry"),
        ADMIN_LOOKUP,
    ),
    ("POST", "/admin/dead-letters/{projection}/{position}/skip"): Row(
        "admin",
        lambda w, _: Request(f"/admin/dead-letters/{w.projection}/1/skip"),
        ADMIN_LOOKUP,
    ),
}

# Issued by `tandem token create` before the servers start (a running server would take
# them as well).
CALLERS = {
    "writer": ["catalog:write"],
    "stocker": ["inventory:write"],
    "alice": ["orders"],
    "mallory": ["orders"],
    "everything-but-admin": ["catalog:write", "inventory:write", "orders"],
}


# The least-privileged caller holding each scope.
HOLDER = {
    "catalog:write": "writer",
    "inventory:write": "stocker",
    "orders": "alice",
    "admin": "admin",
}


def _lacking(scope: str) -> list[str]:
    return [name for name, scopes in CALLERS.items() if scope not in scopes]


@pytest.fixture(scope="module")
def world(profile: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("authz") / "data"
    data.mkdir()
    server = deploy(profile, data)
    try:
        tokens = {
            name: server.cli("token", "create", "--subject", name, "--scopes", ",".join(scopes))
            for name, scopes in CALLERS.items()
        }
        server.start()
        w = World(server, tokens)
        yield w
        w.client.close()
    finally:
        server.stop()


def _send(w: World, method: str, request: Request, headers: dict[str, str]) -> httpx.Response:
    """The call; a stream's answer is judged on its status and headers alone."""
    # Each call stands alone: no read-your-writes cookie from an earlier call.
    w.client.cookies.clear()
    kwargs: dict[str, Any] = {"params": request.params, "headers": headers}
    if request.body is not None:
        kwargs["json"] = request.body
    with w.client.stream(method, request.path, **kwargs) as response:
        if not request.path.startswith("/stream/"):
            response.read()
        return response


def _assert_problem(response: httpx.Response, status: int, cell: str) -> None:
    assert response.status_code == status, (cell, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", cell
    assert response.json()["status"] == status, cell
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), cell


def _live_operations(w: World) -> dict[tuple[str, str], dict[str, Any]]:
    document = w.client.get("/openapi.json").json()
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete", "head", "options")
    }


def test_every_operation_has_a_row(world: World) -> None:
    live = _live_operations(world)
    missing = sorted(set(live) - set(ROWS))
    stale = sorted(set(ROWS) - set(live))
    assert not missing, f"operations without an authorization row: {missing}"
    assert not stale, f"rows for operations the document no longer has: {stale}"
    for key, operation in live.items():
        declared = bool(operation.get("security"))
        assert declared == (ROWS[key].scope is not None), (
            f"{key}: the document's security ({operation.get('security')}) does not match"
            f" the required scope {ROWS[key].scope!r}"
        )


def test_authorization_matrix(world: World, request: pytest.FixtureRequest) -> None:
    cells = 0
    failures: list[str] = []
    for (method, template), row in _live_rows(world):
        owner = "alice" if row.owned else "admin"
        right = HOLDER[row.scope] if row.scope is not None else "admin"
        target = row.make(world, owner)
        denied: list[tuple[str, dict[str, str], int]] = [("no token", {}, 401)]
        denied += [(name, headers, 401) for name, headers in {**MALFORMED, **FORGED}.items()]
        if row.scope is not None:
            denied += [
                (f"{name} (lacks {row.scope})", world.headers(name), 403)
                for name in _lacking(row.scope)
            ]
        if row.owned:
            denied.append(("another customer", world.headers("mallory"), 403))

        before = world.head()
        for cell, headers, status in denied:
            cells += 1
            label = f"{method} {template} · {cell}"
            response = _send(world, method, target, headers)
            try:
                if row.scope is None:
                    assert response.status_code in row.ok, (label, response.status_code)
                else:
                    _assert_problem(response, status, label)
            except AssertionError as exc:
                failures.append(str(exc))
        if row.scope is not None and method != "GET":
            assert world.head() == before, f"{method} {template}: a refused call wrote events"

        allowed = [("right caller", right)]
        if right != "admin":
            allowed.append(("admin", "admin"))
        for cell, caller in allowed:
            cells += 1
            # Each allowed call gets its own target when the call consumes it.
            call = target if cell == "right caller" else row.make(world, owner)
            response = _send(world, method, call, world.headers(caller))
            if response.status_code not in row.ok:
                failures.append(
                    f"{method} {template} · {cell}: {response.status_code} {response.text}"
                )
    request.node.user_properties.append(("matrix_cells", cells))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nauthorization matrix: {cells} cells over {len(ROWS)} operations")
    assert not failures, "\n".join(failures)


def _live_rows(w: World) -> list[tuple[tuple[str, str], Row]]:
    """Rows in the live document's order (every operation has one: see the test above)."""
    return [(key, ROWS[key]) for key in _live_operations(w) if key in ROWS]
