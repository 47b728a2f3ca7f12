"""Which cached answers a batch of the SQLite search may have altered.

The search records its scope changes with the shared `catalog.read_models.sqlite_scopes`
machinery (`SCOPES`, tables `ps_scope_changes` and `ps_scope_trims`); what it tells that
machinery about each event comes from its own tables, and lives here:

- a product's category (`ps_products`) and a category's ancestors (the closure);
- a stock change that only a listing shows (the product stays in stock, or out of it);
- an offer change (price, stock, status: text and category stay) and, for the offer
  changes recorded, the word keys of the product's text (`word_keys`).
"""

from __future__ import annotations

import sqlite3

from catalog.read_models.product_search.rules import shown_only_where_listed
from catalog.read_models.product_search.word_keys import text_keys
from catalog.read_models.sqlite_scopes import Apply, Offers, ScopeLog
from tandem.messages import StoredEvent

SCOPES = ScopeLog("ps", "product_search")


def _category_of(tx: sqlite3.Connection, product_id: str) -> str | None:
    row = tx.execute("SELECT category_id FROM ps_products WHERE id = ?", (product_id,)).fetchone()
    return None if row is None else str(row[0])


def _listed_only(tx: sqlite3.Connection, event: StoredEvent) -> bool:
    """A stock adjustment that leaves the product in stock, or out of it."""
    if event.type != "StockAdjusted":
        return False
    row = tx.execute("SELECT stock FROM ps_products WHERE id = ?", (event.aggregate_id,)).fetchone()
    return row is not None and shown_only_where_listed(int(row[0]), int(event.data["stock"]))


# Product events that change only a product's offer, never its text or category.
_OFFER_EVENTS = frozenset({"PriceChanged", "StockAdjusted", "ProductDiscontinued"})


def _offered_in(tx: sqlite3.Connection, event: StoredEvent) -> str | None:
    """The category of an offer change's product (None: not an offer change, or a
    product the model does not hold)."""
    return _category_of(tx, event.aggregate_id) if event.type in _OFFER_EVENTS else None


def _keys_of(tx: sqlite3.Connection, product_id: str) -> list[str]:
    row = tx.execute(
        "SELECT t.name, t.sku, t.description, t.category_path"
        " FROM ps_products p JOIN ps_product_text t ON t.created_position = p.created_position"
        " WHERE p.id = ?",
        (product_id,),
    ).fetchone()
    return [] if row is None else text_keys(*(str(v or "") for v in row))


OFFERS = Offers(_offered_in, _keys_of)


def _ancestors_of(tx: sqlite3.Connection, category_id: str) -> list[str]:
    rows = tx.execute(
        "SELECT ancestor FROM ps_category_closure WHERE descendant = ?", (category_id,)
    ).fetchall()
    return [str(row[0]) for row in rows]


def record_batch(
    tx: sqlite3.Connection,
    events: list[StoredEvent],
    apply: Apply,
    known: dict[str, list[str]],
) -> None:
    """Apply each event (`apply`) and record the scopes the batch touched; `known`: the
    ancestors read so far, kept by the fold from batch to batch."""
    SCOPES.apply_batch(tx, events, apply, _category_of, _ancestors_of, known, _listed_only, OFFERS)
