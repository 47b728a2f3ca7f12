"""The scope changes a SQLite fold records beside its read model (`catalog.read_models.scopes`).

The product-search and category-stats folds on SQLite each keep two tables of their own:
`<prefix>_scope_changes`, one `(position, scope)` row per scope a batch touched (at the
highest position in the batch that touched it), and `<prefix>_scope_trims`, one row with
the highest position up to which rows were trimmed. Both are written in the batch's
transaction, beside the read model and its checkpoint, so a reader of one snapshot sees
rows exactly up to the checkpoint it reads there.

A batch's scopes come from the read model itself: the product's category before each
product event (`category_of`) and after it (the event's `category_id`, if it names one),
then those categories' ancestors, themselves included (`ancestors_of`), which the fold
keeps once read: categories never move. A fold whose answers show a product's stock
count only where they list the product (the search's pages) says so with `stock_of`:
a stock adjustment that leaves the product in stock, or out of it, then records the
product's own scope instead.

Rows more than `RETAINED_POSITIONS` behind the batch are deleted once at least
`TRIM_EVERY` positions have piled up since the last trim: a delete per batch would cost
a statement per command on the embedded profile's sync copies.

A copy that existed before these tables (folded by an earlier release) has no rows for
its history: its trims row starts at its checkpoint, so a reader that wants history from
before knows to start over.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from catalog.read_models.scopes import EVERYTHING, ScopeChanges, product_scope, product_scopes
from tandem.db.sqlite import transaction
from tandem.messages import StoredEvent
from tandem.projections import checkpoints

# Rows this many positions behind a batch may be trimmed (the SQLite log's positions
# count events, one by one), once this many positions have piled up since the last trim.
RETAINED_POSITIONS = 200_000
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
StockOf = Callable[[sqlite3.Connection, str], int | None]
"""A product's stock in the read model (None: not there)."""


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
                position INTEGER NOT NULL,
                scope TEXT NOT NULL,
                PRIMARY KEY (position, scope)
            ) WITHOUT ROWID
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {self.trims} (
                one INTEGER PRIMARY KEY CHECK (one = 1),
                position INTEGER NOT NULL
            )
            """,
        )

    def setup(self, tx: sqlite3.Connection, *, folded: bool) -> None:
        """Create the tables if missing; `folded`: the read model already holds data
        (so its history, up to the checkpoint, has no rows)."""
        for statement in self.schema():
            tx.execute(statement)
        if tx.execute(f"SELECT 1 FROM {self.trims}").fetchone() is not None:
            return
        trimmed = checkpoints.load(tx, self._projection) if folded else 0
        tx.execute(f"INSERT INTO {self.trims} (one, position) VALUES (1, ?)", (trimmed,))

    def apply_batch(
        self,
        tx: sqlite3.Connection,
        events: list[StoredEvent],
        apply: Apply,
        category_of: CategoryOf,
        ancestors_of: AncestorsOf,
        known: dict[str, list[str]],
        stock_of: StockOf | None = None,
    ) -> None:
        """Apply each event (`apply`) and record the scopes the batch touched.

        `known`: the ancestors read so far, kept by the fold from batch to batch (a
        category never moves, so they never change; one not in the read model yet is
        not kept). `stock_of`: for a fold whose answers show stock counts only on the
        products they list.
        """
        touched: dict[str, int] = {}

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
            if stock_of is not None and event.type == "StockAdjusted":
                stock = stock_of(tx, event.aggregate_id)
                if stock is not None and (stock > 0) == (int(event.data["stock"]) > 0):
                    apply(tx, event)
                    if stock != int(event.data["stock"]):
                        touched[product_scope(event.aggregate_id)] = event.position
                    continue
            before = category_of(tx, event.aggregate_id)
            apply(tx, event)
            # Only the events that place a product (created, details updated) name a
            # category, the one it is in afterwards; the others leave it where it was.
            after = event.data.get("category_id", before)
            categories = {c for c in (before, after) if c is not None}
            closure = {c: lineage(c) for c in categories}
            for scope in product_scopes(categories, closure):
                touched[scope] = event.position
        if touched:
            self._record(tx, touched, events[-1].position)

    def _record(self, tx: sqlite3.Connection, touched: dict[str, int], last: int) -> None:
        tx.executemany(
            f"INSERT OR IGNORE INTO {self.changes} (position, scope) VALUES (?, ?)",
            [(position, scope) for scope, position in touched.items()],
        )
        row = tx.execute(f"SELECT position FROM {self.trims}").fetchone()
        trimmed = int(row[0]) if row is not None else 0
        cutoff = last - RETAINED_POSITIONS
        if cutoff - trimmed >= TRIM_EVERY:
            tx.execute(f"DELETE FROM {self.changes} WHERE position <= ?", (cutoff,))
            tx.execute(
                f"INSERT INTO {self.trims} (one, position) VALUES (1, ?)"
                " ON CONFLICT (one) DO UPDATE SET position = excluded.position",
                (cutoff,),
            )

    def read(self, conn: sqlite3.Connection, after: int | None) -> ScopeChanges:
        """The checkpoint, whether rows past `after` may have been trimmed, and those
        rows, from one read transaction of `conn`; from `None`, no rows and the cursor
        at the checkpoint. The cursor is the checkpoint read.

        A copy served as another version of the projection built it (outdated, until a
        rebuild switches) may have no scope tables; nothing folds into it, so it answers
        with no rows, and a gap to a reader behind its checkpoint: it starts over.
        """
        with transaction(conn, immediate=False):
            checkpoint = checkpoints.load(conn, self._projection)
            since = checkpoint if after is None else after
            try:
                row = conn.execute(f"SELECT position FROM {self.trims}").fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return ScopeChanges(checkpoint, max(checkpoint, since), since < checkpoint)
            rows: list[Any] = conn.execute(
                f"SELECT position, scope FROM {self.changes} WHERE position > ?"
                " AND position <= ? ORDER BY position, scope",
                (since, checkpoint),
            ).fetchall()
        trimmed = int(row[0]) if row is not None else 0
        return ScopeChanges(
            checkpoint,
            max(checkpoint, since),
            trimmed > since,
            [(int(r[0]), str(r[1])) for r in rows],
        )
