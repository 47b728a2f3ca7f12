"""The scope changes a SQLite fold records beside its read model (`catalog.read_models.scopes`).

The product-search and category-stats folds on SQLite each keep two tables of their own:
`<prefix>_scope_changes`, one `(seq, position, scope)` row per scope a batch touched (at
the highest position in the batch that touched it), numbered in the order written, and
`<prefix>_scope_trims`, one row with the highest number up to which rows were trimmed.
Both are written in the batch's transaction, beside the read model and its checkpoint,
so a reader of one snapshot sees rows exactly up to the checkpoint it reads there.
Readers follow the numbers (the file has one writer, so numbers are taken in commit
order): a parked event applied again later records its scopes at its own, older
position, after rows of newer ones. A number is one more than the highest in the table,
and a trim never deletes the newest row, so numbers never come back.

A batch's scopes come from the read model itself: the product's category before each
product event (`category_of`; none before the product's creation) and after it (the
event's `category_id`, if it names one), then those categories' ancestors, themselves
included (`ancestors_of`), which the fold keeps once read: categories never move. A
fold may say of an event that it changes only what an answer listing the product shows
(`listed_only`; the search's stock counts): the event then records the product's own
scope instead; and that it changes only the product's offer, leaving its text and
category as they were (`Offers.category_of`): the event then records an offer change
(`offer_change`) of each of those ancestors and of `CATALOG` instead, one per scope
and batch, with the word keys of the text of every product offered there
(`Offers.keys_of`, read once the batch is applied; a product whose text changed in the
batch has its categories touched outright). A scope the batch touched outright needs no
offer change: its answers are forgotten anyway, and its keys are never worked out.

All but the newest `RETAINED_ROWS` rows are deleted once at least `TRIM_EVERY` more have
piled up: a delete per batch would cost a statement per command on the embedded
profile's sync copies.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalog.read_models.scopes import (
    CATALOG,
    EVERYTHING,
    ScopeChanges,
    offer_change,
    product_scope,
    product_scopes,
)
from tandem.db.sqlite import transaction
from tandem.messages import StoredEvent
from tandem.projections import checkpoints

# Events that create a product: nothing to look up about it before them.
CREATES = frozenset({"ProductCreated"})
# All but the newest this many rows may be trimmed, once this many more have piled up.
RETAINED_ROWS = 200_000
TRIM_EVERY = 10_000
# What the scope tables' names end with: they record batches, not folded state, so two
# copies of one log folded in different batches hold the same read model, not the same
# scope rows.
TABLE_SUFFIXES = ("_scope_changes", "_scope_trims")

Apply = Callable[[sqlite3.Connection, StoredEvent], None]
"""Applies one event to the read model (the projection's `apply`)."""
CategoryOf = Callable[[sqlite3.Connection, str], str | None]
"""The category of a product in the read model (None: not there)."""
AncestorsOf = Callable[[sqlite3.Connection, str], list[str]]
"""A category's ancestors in the read model, itself included (none: not there)."""
ListedOnly = Callable[[sqlite3.Connection, StoredEvent], bool]
"""Whether a product event, before it is applied, changes only what an answer listing
the product shows."""


@dataclass(frozen=True)
class Offers:
    """How a fold tells offer changes (`catalog.read_models.scopes`) apart."""

    # For a product event, before it is applied, that changes only the product's offer
    # (its text and category stay): the product's category; else None.
    category_of: Callable[[sqlite3.Connection, StoredEvent], str | None]
    # The word keys of a product's searchable text, as the read model holds it.
    keys_of: Callable[[sqlite3.Connection, str], list[str]]


class ScopeLog:
    """The scope-change tables of one SQLite fold, and how they are written and read.

    >>> scopes = ScopeLog("ps", "product_search")  # doctest: +SKIP
    >>> scopes.apply_batch(tx, events, fold.apply, category_of, ancestors_of, {})  # doctest: +SKIP
    >>> scopes.read(conn, after=0).rows  # doctest: +SKIP
    [(3, '*'), (7, ''), (7, 'c…'), …]
    """

    def __init__(self, prefix: str, projection: str) -> None:
        self.changes = prefix + TABLE_SUFFIXES[0]
        self.trims = prefix + TABLE_SUFFIXES[1]
        self._projection = projection

    def schema(self) -> tuple[str, ...]:
        return (
            f"""
            CREATE TABLE IF NOT EXISTS {self.changes} (
                seq INTEGER PRIMARY KEY,
                position INTEGER NOT NULL,
                scope TEXT NOT NULL
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.trims} (
                one INTEGER PRIMARY KEY CHECK (one = 1),
                seq INTEGER NOT NULL
            )
            """,
        )

    def setup(self, tx: sqlite3.Connection) -> None:
        """Create the tables if missing."""
        for statement in self.schema():
            tx.execute(statement)
        tx.execute(f"INSERT OR IGNORE INTO {self.trims} (one, seq) VALUES (1, 0)")

    def apply_batch(
        self,
        tx: sqlite3.Connection,
        events: list[StoredEvent],
        apply: Apply,
        category_of: CategoryOf,
        ancestors_of: AncestorsOf,
        known: dict[str, list[str]],
        listed_only: ListedOnly | None = None,
        offers: Offers | None = None,
    ) -> None:
        """Apply each event (`apply`) and record the scopes the batch touched.

        `known`: the ancestors read so far, kept by the fold from batch to batch (a
        category never moves, so they never change; one not in the read model yet is
        not kept).
        """
        touched: dict[str, int] = {}
        offered: dict[str, tuple[int, set[str]]] = {}  # by scope: last position, products

        def lineage(category: str) -> list[str]:
            found = known.get(category)
            if found is None:
                found = ancestors_of(tx, category)
                if not found:
                    return [category]
                known[category] = found
            return found

        for event in events:
            if event.aggregate_type != "product":
                apply(tx, event)
                touched[EVERYTHING] = event.position
                continue
            if listed_only is not None and listed_only(tx, event):
                apply(tx, event)
                touched[product_scope(event.aggregate_id)] = event.position
                continue
            category = None if offers is None else offers.category_of(tx, event)
            if category is not None:
                apply(tx, event)
                for scope in (*lineage(category), CATALOG):
                    _, products = offered.setdefault(scope, (0, set()))
                    products.add(event.aggregate_id)
                    offered[scope] = (event.position, products)
                continue
            # A product is in no category before the event that creates it.
            before = None if event.type in CREATES else category_of(tx, event.aggregate_id)
            apply(tx, event)
            # Only the events that place a product (created, details updated) name a
            # category, the one it is in afterwards; the others leave it where it was.
            after = event.data.get("category_id", before)
            categories = {c for c in (before, after) if c is not None}
            closure = {c: lineage(c) for c in categories}
            for scope in product_scopes(categories, closure):
                touched[scope] = event.position
        keys: dict[str, list[str]] = {}  # by product
        for scope, (position, products) in offered.items():
            if scope in touched or offers is None:
                continue
            for product in products - keys.keys():
                keys[product] = offers.keys_of(tx, product)
            words = sorted({key for product in products for key in keys[product]})
            touched[offer_change(scope, words)] = position
        if touched:
            self._record(tx, touched)

    def _record(self, tx: sqlite3.Connection, touched: dict[str, int]) -> None:
        rows = sorted((position, scope) for scope, position in touched.items())
        tx.executemany(f"INSERT INTO {self.changes} (position, scope) VALUES (?, ?)", rows)
        last = int(tx.execute(f"SELECT max(seq) FROM {self.changes}").fetchone()[0])
        row = tx.execute(f"SELECT seq FROM {self.trims}").fetchone()
        trimmed = int(row[0]) if row is not None else 0
        cutoff = last - RETAINED_ROWS
        if cutoff - trimmed >= TRIM_EVERY:
            tx.execute(f"DELETE FROM {self.changes} WHERE seq <= ?", (cutoff,))
            tx.execute(f"UPDATE {self.trims} SET seq = ?", (cutoff,))

    def read(self, conn: sqlite3.Connection, after: int | None) -> ScopeChanges:
        """The checkpoint, whether rows past the cursor `after` may be gone, and those
        rows in the order written, from one read transaction of `conn`; from `None`, no
        rows and the cursor at the newest row. The cursor is a row number (`seq`); one
        beyond the newest row (the table was made anew) is a gap too.

        A copy served as another version of the projection built it (outdated, until a
        rebuild switches) may have no scope tables; nothing folds into it, so it answers
        with no rows (and a gap to a reader that followed rows elsewhere).
        """
        with transaction(conn, immediate=False):
            checkpoint = checkpoints.load(conn, self._projection)
            try:
                row = conn.execute(
                    f"SELECT t.seq, max(t.seq, coalesce((SELECT max(seq) FROM {self.changes}), 0))"
                    f" FROM {self.trims} t"
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return ScopeChanges(checkpoint, 0, (after or 0) > 0)
            trimmed, newest = (int(row[0]), int(row[1])) if row is not None else (0, 0)
            if after is None:
                return ScopeChanges(checkpoint, newest)
            rows: list[Any] = conn.execute(
                f"SELECT seq, position, scope FROM {self.changes} WHERE seq > ? ORDER BY seq",
                (after,),
            ).fetchall()
        cursor = int(rows[-1][0]) if rows else after
        return ScopeChanges(
            checkpoint,
            cursor,
            trimmed > after or after > newest,
            [(int(r[1]), str(r[2])) for r in rows],
        )
