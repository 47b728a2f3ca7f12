"""Scope changes of the PostgreSQL search: which cached answers each batch may alter.

The contract is `catalog.read_models.scopes`'. The fold records, in the transaction of
each batch (so with its data and checkpoint), one `(position, scope)` row per scope the
batch touched, at the last position that touched it (`BatchScopes`): for a product
event that changed the product's text or category (or created it), every ancestor of
its category before and after the change, itself included (from the closure table),
and `CATALOG`; for one that changed only its offer (price, status, whether it is in
stock), an offer change (`offer_change`) of each of those and of `CATALOG`, with the
word keys of the product's text (`word_keys`); for one that changed only its stock, and
not whether it is in stock, the product's own scope (only a page that lists it shows
the count); for a category event, `EVERYTHING`. An event that changes nothing (a price
set to the price it had, a redelivered creation) alters no answer and records nothing.
A batch records one offer change per category its offer changes were in, with the keys
of all of them.

Rows are numbered (`seq`) in the order they are written, and readers follow the
numbers, not the positions: a parked event applied again later records its scopes at
its own, older position, after rows of newer ones. Every transaction that writes rows
holds the read model's checkpoint row from its start (`apply_past`, `apply_parked`), so
numbers are taken in commit order and a reader never passes one still to come.

Now and then (`trim`), all but the newest rows (`ROWS_PER_BATCH` for each of
`RETAINED_BATCHES` batches) are deleted and the highest number deleted up to is kept in
a one-row table, so a reader whose cursor is below it knows it may have missed rows
(`read_scope_changes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog.read_models.product_search.postgres_schema import SearchTables
from catalog.read_models.product_search.word_keys import text_keys
from catalog.read_models.scopes import (
    CATALOG,
    EVERYTHING,
    ScopeChanges,
    offer_change,
    product_scope,
)

if TYPE_CHECKING:
    from tandem.db.postgres import Connection


class BatchScopes:
    """The scopes one batch touched, each at the last position that touched it."""

    def __init__(self) -> None:
        self.categories: dict[str, int] = {}  # a product's category, before or after
        self.whole: dict[str, int] = {}  # CATALOG, EVERYTHING, products' own
        # A category of products whose offer alone changed: the last position, and the
        # text of each such product there (its keys are worked out only if needed).
        self.offers: dict[str, tuple[int, dict[str, tuple[str, ...]]]] = {}

    def product(self, position: int, *categories: str) -> None:
        """A product event at `position` changed a product in these categories."""
        for category in categories:
            self.categories[category] = max(position, self.categories.get(category, 0))
        self.whole[CATALOG] = max(position, self.whole.get(CATALOG, 0))

    def offer(self, position: int, category: str, product_id: str, text: tuple[str, ...]) -> None:
        """A product event at `position` changed only the offer of a product in
        `category` whose searchable text (name, SKU, description, category path) is
        `text`."""
        last, texts = self.offers.setdefault(category, (position, {}))
        texts[product_id] = text
        self.offers[category] = (max(position, last), texts)

    def _offer_records(self) -> tuple[list[str], list[int], list[str]]:
        """The offer changes to record, as (category, position, `CATALOG`'s record with
        their keys) columns, and `CATALOG`'s own in `whole`. A category (or `CATALOG`)
        whose products a category scope of the batch also touched needs none: that
        scope forgets every answer its offer change could (a catch-up's batches touch
        most categories so, and skip working out keys)."""
        columns: tuple[list[str], list[int], list[str]] = ([], [], [])
        everywhere: set[str] = set()
        last = 0
        catalog_touched = CATALOG in self.whole
        for category in sorted(self.offers):
            position, texts = self.offers[category]
            if catalog_touched and category in self.categories:
                continue
            keys = {key for text in texts.values() for key in text_keys(*text)}
            if not catalog_touched:
                everywhere |= keys
                last = max(last, position)
            if category in self.categories:
                continue
            columns[0].append(category)
            columns[1].append(position)
            columns[2].append(offer_change(CATALOG, sorted(keys)))
        if last:
            self.whole[offer_change(CATALOG, sorted(everywhere))] = last
        return columns

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
        stands for itself); each offer change's ancestors, and `CATALOG`'s with every
        key of the batch's offer changes."""
        offered, positions, records = self._offer_records()
        if not self.categories and not self.whole and not offered:
            return
        categories = sorted(self.categories)
        whole = sorted(self.whole)
        await tx.execute(
            f"INSERT INTO {t.changes} (position, scope) SELECT * FROM ("
            " SELECT max(u.position) AS position, coalesce(cl.ancestor, u.category) AS scope"
            " FROM unnest($1::text[], $2::bigint[]) AS u(category, position)"
            f" LEFT JOIN {t.closure} cl ON cl.descendant = u.category GROUP BY 2"
            " UNION ALL SELECT * FROM unnest($3::bigint[], $4::text[])"
            # An offer change names its category last: `CATALOG`'s record, then the id.
            " UNION ALL SELECT u.position, u.record || coalesce(cl.ancestor, u.category)"
            " FROM unnest($5::text[], $6::bigint[], $7::text[]) AS u(category, position, record)"
            f" LEFT JOIN {t.closure} cl ON cl.descendant = u.category"
            ") touched ORDER BY position, scope",
            categories,
            [self.categories[c] for c in categories],
            [self.whole[s] for s in whole],
            whole,
            offered,
            positions,
            records,
        )


async def trim(tx: Connection, t: SearchTables, retained: int) -> None:
    """Delete all but the newest `retained` rows, and keep the highest number deleted."""
    await tx.execute(
        f"WITH edge AS (SELECT seq FROM {t.changes} ORDER BY seq DESC OFFSET $1 LIMIT 1),"
        f" gone AS (DELETE FROM {t.changes} WHERE seq <= (SELECT seq FROM edge))"
        f" UPDATE {t.trimmed} SET seq = edge.seq FROM edge WHERE {t.trimmed}.seq < edge.seq",
        retained,
    )


async def read_scope_changes(
    conn: Connection, t: SearchTables, checkpoint: str, after: int | None
) -> ScopeChanges:
    """The read model's checkpoint, whether rows past the cursor `after` may be gone, and
    those rows in the order written, in one statement (one snapshot: every row in it is
    committed with the checkpoint read, or with a parked event's data). From `None`: no
    rows, the cursor at the newest row. The cursor is a row number (`seq`).

    A cursor beyond the newest row (the table was made anew) is a gap too."""
    row = await conn.fetchrow(
        "SELECT cp.position AS checkpoint, tr.seq AS trimmed,"
        f" greatest((SELECT max(seq) FROM {t.changes}), tr.seq) AS newest,"
        f" array(SELECT ch.position FROM {t.changes} ch WHERE ch.seq > $2 ORDER BY ch.seq)"
        "  AS positions,"
        f" array(SELECT ch.scope FROM {t.changes} ch WHERE ch.seq > $2 ORDER BY ch.seq)"
        "  AS scopes,"
        f" (SELECT max(seq) FROM {t.changes} ch WHERE ch.seq > $2) AS reached"
        " FROM (SELECT coalesce((SELECT position FROM tandem_checkpoints WHERE name = $1), 0)"
        f" AS position) cp CROSS JOIN {t.trimmed} tr",
        checkpoint,
        after,  # NULL from now: `seq > NULL` holds for no row
    )
    assert row is not None, "the setup writes the one row of the trimmed table"
    newest = int(row["newest"])
    if after is None:
        return ScopeChanges(int(row["checkpoint"]), newest)
    rows = list(zip(row["positions"], row["scopes"], strict=True))
    gap = int(row["trimmed"]) > after or after > newest
    cursor = after if row["reached"] is None else int(row["reached"])
    return ScopeChanges(int(row["checkpoint"]), cursor, gap, rows)
