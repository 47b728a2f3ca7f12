"""Queries answered by the product-detail read model."""

from __future__ import annotations

from typing import Any

from catalog.domain.errors import NotFound
from catalog.read_models.product_detail import sqlite as product_detail
from catalog.read_models.queries import GetProduct
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader


class ProductDetailReads:
    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get_product(self, query: GetProduct) -> dict[str, Any]:
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
