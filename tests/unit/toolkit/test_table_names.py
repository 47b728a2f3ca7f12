"""Copies of a SQLite projection's tables side by side: names, rewriting, dropping."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

import pytest

from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.stores.sqlite import TableNames, schema_objects
from tandem.stores.sqlite_sync import drop_objects


def test_schema_objects_are_the_tables_indexes_and_virtual_tables_setup_creates() -> None:
    objects = schema_objects(ProductSearchProjection())
    # ps_fts_terms is a virtual table of its own (a view of the index's word counts).
    assert {"ps_products", "ps_products_category", "ps_fts", "ps_fts_terms"} <= set(objects)
    # The FTS5 index's own tables follow it; SQLite names them, and its indexes.
    shadows = {f"ps_fts_{part}" for part in ("data", "idx", "content", "docsize", "config")}
    assert not [o for o in objects if o in shadows or o.startswith("sqlite_")]


def test_the_first_copy_keeps_its_names_and_the_connection_itself() -> None:
    conn = sqlite3.connect(":memory:")
    names = TableNames.for_copy(ProductDetailProjection(), "")
    assert names.connection(conn) is conn
    assert names.sql("SELECT doc FROM product_detail") == "SELECT doc FROM product_detail"


def test_a_copy_rewrites_whole_names_only() -> None:
    names = TableNames.for_copy(ProductDetailProjection(), "_g2")
    assert names.sql(
        "SELECT d.doc FROM product_detail d INDEXED BY product_detail_category"
        " JOIN PD_Categories c ON c.id = d.category_id WHERE d.id = ?"
    ) == (
        "SELECT d.doc FROM product_detail_g2 d INDEXED BY product_detail_category_g2"
        " JOIN pd_categories_g2 c ON c.id = d.category_id WHERE d.id = ?"
    )
    assert names.sql("SELECT 1 FROM product_details, xproduct_detail") == (
        "SELECT 1 FROM product_details, xproduct_detail"
    )


def test_the_same_projection_code_folds_two_copies_side_by_side() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    projection = ProductDetailProjection()
    first, second = TableNames.for_copy(projection, ""), TableNames.for_copy(projection, "_g2")
    for names, name in ((first, "Lamp"), (second, "Desk")):
        tx = names.connection(conn)
        projection.setup(tx)
        for position, (kind, data) in enumerate(
            [
                ("CategoryCreated", {"name": "Home", "parent_id": None}),
                (
                    "ProductCreated",
                    {
                        "sku": "S",
                        "name": name,
                        "description": "",
                        "category_id": "c1",
                        "price": "1.00",
                        "currency": "EUR",
                        "stock": 1,
                        "attributes": {},
                    },
                ),
            ],
            start=1,
        ):
            aggregate = "c1" if kind == "CategoryCreated" else "p1"
            projection.apply(
                tx, StoredEvent(position, kind, 1, "x", aggregate, 1, 0.0, "", "", data)
            )
    docs = [
        names.connection(conn).execute("SELECT doc FROM product_detail").fetchone()[0]
        for names in (first, second)
    ]
    assert b'"Lamp"' in docs[0] and b'"Desk"' in docs[1]
    drop_objects(conn, second.objects)
    left = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert not [n for n in left if n.endswith("_g2")]
    assert {"product_detail", "pd_categories"} <= left


class _Clashing(Projection[sqlite3.Connection]):
    name = "clashing"
    event_types: ClassVar[frozenset[str]] = frozenset()

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS owners (id TEXT PRIMARY KEY, owners INTEGER)")

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        raise NotImplementedError


def test_a_column_named_like_a_table_is_refused() -> None:
    with pytest.raises(ValueError, match="owners"):
        TableNames.for_copy(_Clashing(), "_g2")
