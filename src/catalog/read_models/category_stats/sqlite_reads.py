"""Queries answered by the category-stats read model."""

from __future__ import annotations

from catalog.domain.errors import NotFound
from catalog.read_models.category_stats import sqlite as category_stats
from catalog.read_models.queries import GetCategoryStats, ListCategories
from catalog.read_models.scopes import ScopeChanges
from catalog.read_models.shapes import CategoryStats, CategoryTree
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader


class CategoryStatsReads:
    """Stats of one category subtree, and the whole tree with product counts."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get_category_stats(self, query: GetCategoryStats) -> CategoryStats:
        # One primary-key row and two index seeks: cheaper inline than a thread hop.
        stats = self._reader.call(lambda c: category_stats.fetch_stats(c, query.category_id))
        if stats is None:
            raise NotFound("category", query.category_id)
        return stats

    async def list_categories(self, query: ListCategories) -> CategoryTree:
        # Reads every category, so it runs off the event loop.
        return {"categories": await self._reader.run(category_stats.fetch_tree)}

    async def scope_changes(self, after: int | None = None) -> ScopeChanges:
        """Which stats the batches after `after` may have changed (`scopes`)."""
        return await self._reader.run(lambda conn: category_stats.SCOPES.read(conn, after))

    def register(self, bus: QueryBus) -> None:
        name = category_stats.CategoryStatsProjection.name
        bus.register(GetCategoryStats, self.get_category_stats, read_model=name)
        bus.register(ListCategories, self.list_categories, read_model=name)
