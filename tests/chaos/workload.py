"""A mixed workload of concurrent client sessions, every request recorded.

Each session is a thread with its own HTTP client (and so its own `tandem_rv` cookie):
it changes prices and stock, fills carts and checks them out, and reads product
details, search, category stats, its carts and its orders, asking each read model for
at least the newest version it has already been answered at. Commands carry an
`Idempotency-Key` and are retried with it on 503 or on no answer, as a client would;
everything goes into a `History` for `tests.support.consistency.check`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import httpx

from tests.support.consistency import MODEL, History, Op
from tests.support.server import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# A request unanswered after this long is a hang (reads wait at most 2 s by default).
CLIENT_TIMEOUT = 20.0
# How long a client keeps retrying one command on 503 before giving up.
COMMAND_PATIENCE = 45.0


class Catalog:
    """The categories and products the workload works on, made before it starts."""

    def __init__(self, categories: list[str], products: list[str], head: int) -> None:
        self.categories = categories
        self.products = products
        self.head = head


def seed(url: str, history: History, products: int = 12) -> Catalog:
    session = Session(url, history, "setup", None, 0, seed=0)
    with session:
        root = session.write("create_category", "", "POST", "/categories", {"name": "Chaos"})
        sub = session.write(
            "create_category", "", "POST", "/categories", {"name": "Sub", "parent_id": root.target}
        )
        ids: list[str] = []
        for i in range(products):
            product_id = str(uuid.uuid4())
            price = f"{10 + i}.00"
            body = {
                "id": product_id,
                "sku": f"CH-{uuid.uuid4().hex[:10]}",
                "name": f"Chaos item {i}",
                "category_id": [root.target, sub.target][i % 2],
                "price": price,
                "initial_stock": 50,
            }
            op = session.write("create", product_id, "POST", "/products", body, value=price)
            assert op.acknowledged, (op.status, op.error)
            ids.append(product_id)
        head = max(op.version or 0 for op in history.ops)
    return Catalog([root.target, sub.target], ids, head)


class Session:
    """One client: a cookie jar, a random source, and the versions it has been answered at."""

    def __init__(
        self,
        url: str,
        history: History,
        name: str,
        catalog: Catalog | None,
        floor: int,
        seed: int,
    ) -> None:
        self.client = httpx.Client(base_url=url, headers=ADMIN, timeout=CLIENT_TIMEOUT)
        self.history = history
        self.name = name
        self.catalog = catalog
        self.rng = random.Random(seed)
        self.seen = dict.fromkeys(MODEL.values(), floor)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def write(
        self,
        kind: str,
        target: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        value: Any = None,
    ) -> Op:
        op = Op(self.name, kind, target, start=time.monotonic(), value=value)
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        deadline = op.start + COMMAND_PATIENCE
        while True:
            response = self._send(op, method, path, headers=headers, json=body)
            if response is not None and response.status_code != 503:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(_retry_after(response))
        op.end = time.monotonic()
        if response is not None and response.status_code in (200, 201):
            answer = response.json()
            op.version = int(answer["version"])
            op.target = op.target or str(answer["id"])
            if kind == "checkout":
                op.target, op.value = str(answer["id"]), answer["total"]
        if kind != "create_category":
            self.history.add(op)
        return op

    def read(self, kind: str, target: str, path: str, params: dict[str, Any] | None = None) -> Op:
        model = MODEL[kind]
        floor = self.seen[model]
        op = Op(self.name, kind, target, start=time.monotonic(), min_version=floor)
        response = self._send(op, "GET", path, params={**(params or {}), "min_version": floor})
        op.end = time.monotonic()
        op.attempts = []
        if response is not None and response.status_code == 200:
            op.read_version = int(response.headers["x-read-version"])
            op.document = response.json()
            self.seen[model] = max(floor, op.read_version)
        return self.history.add(op)

    def _send(self, op: Op, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            op.status, op.error = None, f"timeout: {type(exc).__name__}"
            op.attempts.append((None, op.error, None))
            return None
        except httpx.HTTPError as exc:
            op.status, op.error = None, type(exc).__name__
            op.attempts.append((None, op.error, None))
            return None
        op.status, op.error = response.status_code, None
        op.retry_after = response.headers.get("retry-after")
        op.attempts.append((response.status_code, None, op.retry_after))
        return response

    def step(self) -> None:
        """One action, chosen at random."""
        assert self.catalog is not None
        rng = self.rng
        product = rng.choice(self.catalog.products)
        roll = rng.random()
        if roll < 0.25:
            price = f"{rng.randint(100, 9999) / 100:.2f}"
            self.write(
                "price", product, "PUT", f"/products/{product}/price", {"price": price}, price
            )
            self.read("product", product, f"/products/{product}")
        elif roll < 0.35:
            body = {"delta": rng.randint(1, 3), "reason": "delivery"}
            self.write("stock", product, "POST", f"/products/{product}/stock-adjustments", body)
        elif roll < 0.55:
            self._cart(product)
        elif roll < 0.75:
            self.read("product", product, f"/products/{product}")
        elif roll < 0.9:
            category = rng.choice(self.catalog.categories)
            params = {"category": category, "sort": "price_asc", "limit": 50}
            self.read("search", category, "/products", params)
        else:
            category = rng.choice(self.catalog.categories)
            self.read("stats", category, f"/categories/{category}/stats")

    def _cart(self, product: str) -> None:
        cart = str(uuid.uuid4())
        quantity = self.rng.randint(1, 2)
        added = self.write(
            "cart_add",
            cart,
            "POST",
            f"/carts/{cart}/items",
            {"product_id": product, "quantity": quantity},
            (product, quantity),
        )
        if not added.acknowledged:
            return
        self.read("cart", cart, f"/carts/{cart}")
        if self.rng.random() < 0.6:
            order = self.write("checkout", cart, "POST", f"/carts/{cart}/checkout")
            if order.acknowledged:
                read = self.read("order", order.target, f"/orders/{order.target}")
                read.value = order.value


def _retry_after(response: httpx.Response | None) -> float:
    if response is None:
        return 0.5
    try:
        return min(2.0, max(0.1, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


class Workload:
    """`sessions` client threads running `Session.step` until stopped."""

    def __init__(self, url: str, catalog: Catalog, history: History, sessions: int = 4) -> None:
        self.url = url
        self.catalog = catalog
        self.history = history
        self._stop = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._idle = threading.Semaphore(0)
        self.errors: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, args=(f"s{i}", i + 1), daemon=True)
            for i in range(sessions)
        ]

    def _run(self, name: str, seed: int) -> None:
        try:
            with Session(self.url, self.history, name, self.catalog, self.catalog.head, seed) as s:
                while not self._stop.is_set():
                    if not self._go.is_set():
                        self._idle.release()
                        self._go.wait()
                        continue
                    s.step()
                    time.sleep(s.rng.uniform(0.0, 0.02))
        except Exception as exc:  # a bug in the workload must not pass for a quiet run
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def pause(self) -> None:
        """Return once every session has finished its step and waits."""
        self._go.clear()
        for thread in self._threads:
            if thread.is_alive():
                self._idle.acquire(timeout=CLIENT_TIMEOUT + COMMAND_PATIENCE + 10)

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT + COMMAND_PATIENCE + 10)
