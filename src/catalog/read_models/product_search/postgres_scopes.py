"""Scope changes of the PostgreSQL search: which cached answers each batch may alter.

The contract is `catalog.read_models.scopes`'. The fold records, in the transaction of
each batch (so with its data and checkpoint), one `(position, scope)` row per scope the
batch touched, at the last position that touched it (`BatchScopes`): for a product
event that changed the product, every ancestor of its category before and after the
change, itself included (from the closure table), and `CATALOG`; for one that changed
only its stock, and not whether it is in stock, the product's own scope (only a page
that lists it shows the count); for a category event, `EVERYTHING`. An event that
changes nothing (a price set to the price it had, a redelivered creation) alters no
answer and records nothing.

Now and then (`trim`), all but the newest rows (`ROWS_PER_BATCH` for each of
`RETAINED_BATCHES` batches) are deleted and the highest position deleted up to is kept
in a one-row table, so a reader whose
last position is below it knows it may have missed rows (`read_scope_changes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog.read_models.product_search.postgres_schema import SearchTables
from catalog.read_models.scopes import CATALOG, EVERYTHING, ScopeChanges, product_scope

if TYPE_CHECKING:
    from tandem.db.postgres import Connection


class BatchScopes:
    """The scopes one batch touched, each at the last position that touched it."""

    def __init__(self) -> None:
        self.categories: dict[str, int] = {}  # a product's category, before or after
        self.whole: dict[str, int] = {}  # CATALOG, EVERYTHING, products' own

    def product(self, position: int, *categories: str) -> None:
        """A product event at `position` changed a product in these categories."""
        for category in categories:
            self.categories[category] = max(position, self.categories.get(category, 0))
        self.whole[CATALOG] = max(position, self.whole.get(CATALOG, 0))

    def shown(self, position: int, product_id: str) -> None:
        """A product event at `position` changed what only a page showing the product
        tells (its stock count)."""
        scope = product_scope(product_id)
        self.whole[scope] = max(position, self.whole.get(scope, 0))

    def everything(self, position: int) -> None:
        """A category event at `position`: every answer may have changed."""
        self.whole[EVERYTHING] = max(position, self.whole.get(EVERYTHING, 0))

    async def write(self, tx: Connection, t: SearchTables) -> None:
        """Record the scopes: each category's ancestors, itself included, at the last
        position of any category below them (a category the closure does not know
        stands for itself)."""
        if not self.categories and not self.whole:
            return
        categories = sorted(self.categories)
        whole = sorted(self.whole)
        await tx.execute(
            f"INSERT INTO {t.changes} (position, scope)"
            " SELECT max(u.position), coalesce(cl.ancestor, u.category)"
            " FROM unnest($1::text[], $2::bigint[]) AS u(category, position)"
            f" LEFT JOIN {t.closure} cl ON cl.descendant = u.category GROUP BY 2"
            " UNION ALL SELECT * FROM unnest($3::bigint[], $4::text[])"
            " ON CONFLICT DO NOTHING",
            categories,
            [self.categories[c] for c in categories],
            [self.whole[s] for s in whole],
            whole,
        )


async def trim(tx: Connection, t: SearchTables, retained: int) -> None:
    """Delete all but the newest `retained` rows (whole positions: a position is kept or
    gone with every row of it), and keep the highest position rows were deleted up to."""
    await tx.execute(
        f"WITH edge AS (SELECT position FROM {t.changes} ORDER BY position DESC"
        "  OFFSET $1 LIMIT 1),"
        f" gone AS (DELETE FROM {t.changes} WHERE position <= (SELECT position FROM edge))"
        f" UPDATE {t.trimmed} SET position = edge.position FROM edge"
        f" WHERE {t.trimmed}.position < edge.position",
        retained,
    )


async def read_scope_changes(
    conn: Connection, t: SearchTables, checkpoint: str, after: int | None
) -> ScopeChanges:
    """The read model's checkpoint, whether rows past `after` may have been trimmed, and
    those rows up to the checkpoint, ascending, in one statement (one snapshot: every
    row the checkpoint covers is committed with it). From `None`: no rows, the cursor
    at the checkpoint. The cursor is the checkpoint read."""
    row = await conn.fetchrow(
        "SELECT cp.position AS checkpoint, tr.position AS trimmed,"
        f" array(SELECT ch.position FROM {t.changes} ch"
        "  WHERE ch.position > coalesce($2, cp.position) AND ch.position <= cp.position"
        "  ORDER BY ch.position, ch.scope) AS positions,"
        f" array(SELECT ch.scope FROM {t.changes} ch"
        "  WHERE ch.position > coalesce($2, cp.position) AND ch.position <= cp.position"
        "  ORDER BY ch.position, ch.scope) AS scopes"
        " FROM (SELECT coalesce((SELECT position FROM tandem_checkpoints WHERE name = $1), 0)"
        f" AS position) cp CROSS JOIN {t.trimmed} tr",
        checkpoint,
        after,
    )
    assert row is not None, "the setup writes the one row of the trimmed table"
    rows = list(zip(row["positions"], row["scopes"], strict=True))
    reached = int(row["checkpoint"])
    gap = after is not None and int(row["trimmed"]) > after
    return ScopeChanges(reached, max(reached, after or 0), gap, rows)
