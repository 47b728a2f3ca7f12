"""Categories: a tree of named nodes."""

from __future__ import annotations

from catalog.domain import values
from catalog.domain.events import CategoryCreated, CategoryRenamed
from tandem.aggregate import Aggregate

MAX_NAME = 120


class Category(Aggregate):
    def __init__(
        self, id: str, name: str, slug: str, parent_id: str | None, version: int = 0
    ) -> None:
        super().__init__(id, version)
        self.name = name
        self.slug = slug
        self.parent_id = parent_id

    @classmethod
    def create(cls, id: str, name: str, parent_id: str | None) -> Category:
        name = values.text(name, "name", max_length=MAX_NAME)
        category = cls(id, name, values.slugify(name), parent_id)
        category._record(
            CategoryCreated(aggregate_id=id, name=name, slug=category.slug, parent_id=parent_id)
        )
        return category

    def rename(self, name: str) -> None:
        self.name = values.text(name, "name", max_length=MAX_NAME)
        self.slug = values.slugify(self.name)
        self._record(CategoryRenamed(aggregate_id=self.id, name=self.name, slug=self.slug))
