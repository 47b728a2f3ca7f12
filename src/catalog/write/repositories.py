"""What command handlers need from the write database, whatever the backend.

Handlers load aggregates through `Repositories` and commit through the unit of work;
the SQLite and PostgreSQL backends (`sqlite_repositories`, `postgres_repositories`)
each provide both, and the composition root picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, Self

from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.order import Order
from catalog.domain.product import Product
from tandem.aggregate import Aggregate
from tandem.uow import CommandResult, UnitOfWorkLike

Table = Literal["categories", "products", "carts", "orders"]


class Repositories(Protocol):
    """Aggregate access inside one unit of work.

    Loads of aggregates the command may change lock their rows until commit where the
    backend has concurrent writers, so commands on one aggregate queue rather than
    fail; `lock=False` reads a product only to look at it (adding it to a cart).
    """

    async def category(self, id: str) -> Category: ...

    async def category_ancestors(self, id: str) -> list[str]:
        """Ids from `id` up to the root, `id` first (empty when `id` is unknown)."""
        ...

    async def exists(self, table: Table, id: str) -> bool: ...

    async def sku_taken(self, sku: str) -> bool: ...

    async def product(self, id: str, *, lock: bool = True) -> Product: ...

    async def products(self, ids: list[str]) -> dict[str, Product]: ...

    async def cart(self, id: str) -> Cart | None: ...

    async def order(self, id: str) -> Order: ...


class CatalogUnitOfWork(UnitOfWorkLike, Protocol):
    """The unit of work handlers see: a transaction, its repositories and commit."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def repositories(self) -> Repositories: ...

    def track(self, aggregate: Aggregate) -> None: ...

    async def commit(
        self, id: str, *, created: bool = False, extra: Mapping[str, Any] | None = None
    ) -> CommandResult: ...
