"""Cart view: each cart's lines with the product's current name and price.

Lines keep only (cart, product, quantity); name and price live once per product in
`cv_products` and are joined when a cart is read. Denormalizing them into the lines
would turn one price change of a popular product into a rewrite of every cart holding
it, abandoned carts included, while a cart read joins at most a hundred lines by
primary key. The join keeps product events O(1) and reads cheap.
"""

from __future__ import annotations

import sqlite3

from catalog.read_models.cart_view.rules import EVENT_TYPES, cart_document
from catalog.read_models.money import cents
from catalog.read_models.shapes import Cart
from tandem.db.sqlite import run_script
from tandem.messages import StoredEvent
from tandem.projections.base import Projection

SCHEMA = """
CREATE TABLE IF NOT EXISTS cv_carts (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cv_lines (
    cart_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (cart_id, product_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cv_products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    currency TEXT NOT NULL
)
"""


class CartViewProjection(Projection[sqlite3.Connection]):
    """Carts as shoppers see them, always priced at the product's current price."""

    name = "cart_view"
    version = 1
    event_types = EVENT_TYPES

    def setup(self, tx: sqlite3.Connection) -> None:
        run_script(tx, SCHEMA)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data = event.data
        id = event.aggregate_id
        if event.type == "CartOpened":
            tx.execute(
                "INSERT OR REPLACE INTO cv_carts (id, owner) VALUES (?, ?)", (id, data["owner"])
            )
        elif event.type == "CartItemAdded":
            # line_quantity is the line's new total, so the upsert needs no earlier state.
            tx.execute(
                "INSERT INTO cv_lines (cart_id, product_id, quantity) VALUES (?, ?, ?)"
                " ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity",
                (id, data["product_id"], data["line_quantity"]),
            )
        elif event.type == "CartItemRemoved":
            tx.execute(
                "DELETE FROM cv_lines WHERE cart_id = ? AND product_id = ?",
                (id, data["product_id"]),
            )
        elif event.type == "CartCheckedOut":
            tx.execute("DELETE FROM cv_lines WHERE cart_id = ?", (id,))
        elif event.type == "ProductCreated":
            tx.execute(
                "INSERT OR REPLACE INTO cv_products (id, name, price_cents, currency)"
                " VALUES (?, ?, ?, ?)",
                (id, data["name"], cents(data["price"]), data["currency"]),
            )
        elif event.type == "ProductDetailsUpdated":
            tx.execute("UPDATE cv_products SET name = ? WHERE id = ?", (data["name"], id))
        elif event.type == "PriceChanged":
            tx.execute(
                "UPDATE cv_products SET price_cents = ?, currency = ? WHERE id = ?",
                (cents(data["price"]), data["currency"], id),
            )


def fetch(conn: sqlite3.Connection, cart_id: str) -> Cart | None:
    """The display-ready cart, or None if no such cart was ever opened."""
    cart = conn.execute("SELECT owner FROM cv_carts WHERE id = ?", (cart_id,)).fetchone()
    if cart is None:
        return None
    rows = conn.execute(
        "SELECT l.product_id, p.name, p.price_cents, p.currency, l.quantity FROM cv_lines l"
        " LEFT JOIN cv_products p ON p.id = l.product_id WHERE l.cart_id = ?",
        (cart_id,),
    ).fetchall()
    return cart_document(cart_id, cart[0], (tuple(row) for row in rows))
