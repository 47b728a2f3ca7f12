"""The write model's normalized tables (SQLite), created beside the event log."""

from __future__ import annotations

import sqlite3
import time
import uuid

from catalog.tokens.rules import takeable
from tandem.db.sqlite import transaction
from tandem.uow.sqlite import create_schema as create_toolkit_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    parent_id TEXT REFERENCES categories (id),
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS categories_parent ON categories (parent_id);
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category_id TEXT NOT NULL REFERENCES categories (id),
    price TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    attributes TEXT NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0),
    status TEXT NOT NULL,
    created_position INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS products_category ON products (category_id);
CREATE TABLE IF NOT EXISTS carts (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cart_lines (
    cart_id TEXT NOT NULL REFERENCES carts (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (cart_id, product_id)
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    status TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    placed_at REAL NOT NULL,
    lines TEXT NOT NULL,
    version INTEGER NOT NULL,
    contact TEXT
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer);
"""


# Bearer tokens (`catalog.tokens.sqlite`): digests, never secrets; times in epoch seconds.
TOKENS = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
)
"""
# Days of the Julian calendar at the Unix epoch: the old table's `julianday('now')`.
_JULIAN_EPOCH = 2440587.5


def create_schema(conn: sqlite3.Connection) -> None:
    create_toolkit_schema(conn)
    conn.executescript(SCHEMA)
    upgrade_orders(conn)
    upgrade_tokens(conn)
    conn.execute(TOKENS)


def upgrade_orders(conn: sqlite3.Connection) -> None:
    """Orders of a data directory from before checkout took a contact: none has one."""
    if _has_contact(conn):
        return
    with transaction(conn):
        if not _has_contact(conn):  # another process may have upgraded them meanwhile
            conn.execute("ALTER TABLE orders ADD COLUMN contact TEXT")


def _has_contact(conn: sqlite3.Connection) -> bool:
    return "contact" in {row[1] for row in conn.execute("PRAGMA table_info(orders)")}


def upgrade_tokens(conn: sqlite3.Connection) -> None:
    """Tokens of a data directory from before token ids, expiry and revocation: each
    kept with its digest and given an id; one whose subject no token may take now
    (`admin`, blank…) is kept revoked."""
    if not _old_tokens(conn):
        return
    now = time.time()
    with transaction(conn):
        if not _old_tokens(conn):
            return  # another process upgraded them meanwhile
        rows = conn.execute("SELECT digest, subject, scopes, created_at FROM tokens").fetchall()
        conn.execute("DROP TABLE tokens")
        conn.execute(TOKENS)
        conn.executemany(
            "INSERT INTO tokens (id, digest, subject, scopes, created_at, revoked_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    str(uuid.uuid4()),
                    digest,
                    subject,
                    scopes,
                    (created - _JULIAN_EPOCH) * 86400,
                    None if takeable(subject) else now,
                )
                for digest, subject, scopes, created in rows
            ],
        )


def _old_tokens(conn: sqlite3.Connection) -> bool:
    """Whether the token table is there in its form from before token ids."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tokens)")}
    return bool(columns) and "id" not in columns
