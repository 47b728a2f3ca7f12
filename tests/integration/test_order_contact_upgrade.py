"""SQLite data directories from before checkout took a contact: the write table and the
order view gain the column on start, and the orders they hold read as having none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from catalog.read_models.order_view.sqlite import OrderViewProjection, fetch
from catalog.write.sqlite_schema import create_schema

OLD_ORDERS = """
CREATE TABLE orders (
    id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, customer TEXT NOT NULL,
    status TEXT NOT NULL, total TEXT NOT NULL, currency TEXT NOT NULL,
    placed_at REAL NOT NULL, lines TEXT NOT NULL, version INTEGER NOT NULL
)
"""
OLD_VIEW = """
CREATE TABLE ov_orders (
    id TEXT PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL, total TEXT NOT NULL,
    currency TEXT NOT NULL, placed_at REAL NOT NULL, lines TEXT NOT NULL
)
"""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_the_write_table_gains_the_contact_column_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "write.db", isolation_level=None)
    conn.execute(OLD_ORDERS)
    conn.execute(
        "INSERT INTO orders VALUES ('o1', 'c1', 'alice', 'placed', '1.00', 'USD', 0, '[]', 1)"
    )
    create_schema(conn)
    create_schema(conn)  # a second start finds it upgraded
    assert "contact" in _columns(conn, "orders")
    assert conn.execute("SELECT contact FROM orders WHERE id = 'o1'").fetchone() == (None,)


def test_the_order_view_gains_the_contact_column_and_old_orders_have_none(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "read.db", isolation_level=None)
    conn.execute(OLD_VIEW)
    conn.execute("INSERT INTO ov_orders VALUES ('o1', 'alice', 'placed', '1.00', 'USD', 0, '[]')")
    projection = OrderViewProjection()
    projection.setup(conn)
    projection.setup(conn)
    assert "contact" in _columns(conn, "ov_orders")
    order = fetch(conn, "o1")
    assert order is not None and order["contact"] is None
