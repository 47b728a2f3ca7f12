"""Queries answered by the product-detail read model, and its copy as the detail cache
follows it (`catalog.read_models.product_detail.cache`)."""

from __future__ import annotations

import functools
from typing import Protocol

from catalog.domain.errors import NotFound
from catalog.read_models.product_detail import sqlite as product_detail
from catalog.read_models.product_detail.cache import Change
from catalog.read_models.queries import GetProduct
from catalog.read_models.shapes import ProductDocument
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader
from tandem.stores.switchable import Reader


class ProductDetailReads:
    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get_product(self, query: GetProduct) -> ProductDocument:
        # A primary-key read on a local file takes microseconds: cheaper inline than a
        # thread hop.
        doc = self._reader.call(lambda c: product_detail.fetch(c, query.product_id))
        if doc is None:
            raise NotFound("product", query.product_id)
        return doc

    def register(self, bus: QueryBus) -> None:
        bus.register(
            GetProduct, self.get_product, read_model=product_detail.ProductDetailProjection.name
        )


class Served(Protocol):
    """A read model's reader that names the copy it reads now (`Switchable` of a file,
    `SyncReader` of tables in the write database)."""

    @property
    def current(self) -> Reader: ...


class SqliteDocumentCopy:
    """One copy of the SQLite product-detail table, as the detail cache follows it.

    The projection writes `changed_at` (the position of a document's last change) in the
    transaction of each batch, and the checkpoint advances after its commit: so one
    indexed query for the rows changed after the cursor, run once the checkpoint has
    advanced, finds every change up to it. Nothing is ever trimmed (no `FeedGap`).
    Reads run inline: a local file, microseconds.
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def document(self, product_id: str) -> tuple[int, bytes] | None:
        found: tuple[int, bytes] | None = self.reader.call(
            functools.partial(product_detail.document, product_id=product_id)
        )
        return found

    async def follow_from(self, reached: int) -> int:
        # Every change up to the newest stored is in the documents a fill reads: no need
        # to read them again (on a large catalog, every document).
        last: int = self.reader.call(product_detail.last_change)
        return max(reached, last)

    async def changes_after(self, since: int) -> tuple[list[Change], int]:
        changes: list[Change] = self.reader.call(
            functools.partial(product_detail.changed_since, position=since)
        )
        # In position order: the last is the newest, and every commit before it is in.
        return changes, changes[-1][1] if changes else since


class SqliteDocuments:
    """The copy of product detail queries read now (`target`), for the detail cache:
    another `SqliteDocumentCopy` once a rebuild switched."""

    def __init__(self, served: Served) -> None:
        self._served = served
        self._copy: SqliteDocumentCopy | None = None

    @property
    def target(self) -> SqliteDocumentCopy:
        reader = self._served.current
        if self._copy is None or self._copy.reader is not reader:
            self._copy = SqliteDocumentCopy(reader)
        return self._copy
