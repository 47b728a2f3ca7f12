"""What category stats mean, whatever store keeps them.

The stats are kept by deltas: an event changes one product, so it moves that product's
contribution out of the categories above its old category and into those above its new
one. This module says what a product event makes of the product's last contribution
(`next_product`), which deltas that change makes, in which category
(`contribution_moves`), and how the stats and the tree read back
(`stats_document`, `tree_document`). Each backend stores products and applies the
moves to every ancestor of the category in its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from catalog.read_models.money import average_cents, cents, optional_from_cents
from catalog.read_models.shapes import CategoryNode, CategoryStats

CATEGORY_EVENTS = frozenset({"CategoryCreated", "CategoryRenamed"})


class Product(NamedTuple):
    """A product's contribution to the stats, as last folded."""

    category_id: str
    price_cents: int
    stock: int
    active: bool

    @property
    def in_stock(self) -> int:
        return 1 if self.stock > 0 else 0


def next_product(event_type: str, data: Mapping[str, Any], old: Product | None) -> Product | None:
    """The product after a product event, or None when the event leaves nothing to fold
    (a change to a product the read model never saw created)."""
    if event_type == "ProductCreated":
        return Product(data["category_id"], cents(data["price"]), data["stock"], True)
    if old is None:
        return None
    if event_type == "ProductDetailsUpdated":
        return old._replace(category_id=data["category_id"])
    if event_type == "PriceChanged":
        return old._replace(price_cents=cents(data["price"]))
    if event_type == "StockAdjusted":
        return old._replace(stock=data["stock"])
    return old._replace(active=False)


class Move(NamedTuple):
    """What a product's change does to one category and every category above it."""

    category_id: str
    # Counter deltas, in the order of `COUNTERS`.
    deltas: tuple[int, int, int, int]
    # The price leaving the subtrees' price sets and the one entering them (None: none).
    removed_price: int | None
    added_price: int | None


# The counters every category keeps over its subtree, in the order of `Move.deltas`.
COUNTERS = ("product_count", "in_stock_count", "total_stock", "price_sum_cents")


def contribution_moves(old: Product | None, new: Product | None) -> list[Move]:
    """The moves that swap a product's contribution `old` for `new`; an inactive
    product contributes nothing. A product staying in its category moves only the
    difference there; one changing category leaves the old and enters the new."""
    before = old if old is not None and old.active else None
    after = new if new is not None and new.active else None
    if before is not None and after is not None and before.category_id == after.category_id:
        repriced = before.price_cents != after.price_cents
        deltas = (
            0,
            after.in_stock - before.in_stock,
            after.stock - before.stock,
            after.price_cents - before.price_cents,
        )
        return [
            Move(
                after.category_id,
                deltas,
                before.price_cents if repriced else None,
                after.price_cents if repriced else None,
            )
        ]
    moves: list[Move] = []
    if before is not None:
        deltas = (-1, -before.in_stock, -before.stock, -before.price_cents)
        moves.append(Move(before.category_id, deltas, before.price_cents, None))
    if after is not None:
        deltas = (1, after.in_stock, after.stock, after.price_cents)
        moves.append(Move(after.category_id, deltas, None, after.price_cents))
    return moves


def stats_document(
    category_id: str,
    name: str,
    product_count: int,
    in_stock_count: int,
    total_stock: int,
    price_sum_cents: int,
    low_cents: int | None,
    high_cents: int | None,
) -> CategoryStats:
    """The display-ready stats of one category's subtree; an empty subtree has no
    prices, whatever a store still holds for them."""
    priced = product_count > 0
    average = average_cents(price_sum_cents, product_count) if priced else None
    return {
        "category_id": category_id,
        "name": name,
        "product_count": product_count,
        "in_stock_count": in_stock_count,
        "min_price": optional_from_cents(low_cents if priced else None),
        "max_price": optional_from_cents(high_cents if priced else None),
        "avg_price": optional_from_cents(average),
        "total_stock": total_stock,
    }


def tree_document(
    rows: Iterable[tuple[str, str, str, str | None, int]],
) -> list[CategoryNode]:
    """(id, name, slug, parent id, product count) rows as a tree, siblings sorted by
    (name, id) at every level."""
    # Python compares str by code point, as SQLite's BINARY collation compares UTF-8.
    nodes: dict[str, CategoryNode] = {
        id: {
            "id": id,
            "name": name,
            "slug": slug,
            "parent_id": parent,
            "product_count": count,
            "children": [],
        }
        for id, name, slug, parent, count in sorted(rows, key=lambda r: (r[1], r[0]))
    }
    roots: list[CategoryNode] = []
    # Nodes are in sorted order, so appending keeps every sibling list sorted too.
    for node in nodes.values():
        parent_node = nodes.get(node["parent_id"]) if node["parent_id"] is not None else None
        (parent_node["children"] if parent_node is not None else roots).append(node)
    return roots
