"""Which answers a read model's changes may have altered: the scope changes its folds record.

A cached answer (a search, a category's stats) depends on the products of one category
subtree, or of the whole catalog. The product-search and category-stats folds record,
in the same transaction as the data and the checkpoint, one `(position, scope)` row per
scope a batch touched, so a process that caches answers learns exactly which to forget,
and up to which position it has learnt everything:

- a category id: answers about that category's subtree (every ancestor of a changed
  product's category, itself included, before and after the change);
- `CATALOG`: answers not narrowed to a category (every product change touches it);
- `EVERYTHING`: every answer (a category created or renamed changes names and paths);
- a product's own scope (`product_scope`), for a change that only an answer showing
  that product can tell (a search page that lists its stock): a fold records it
  instead of the categories where that is all that changed, and an answer names the
  products it shows, beside the scope of its query;
- an offer change (`offer_change`: a category id, or `CATALOG`, with word keys), for a
  search model's change to products' offers alone (price, stock, status) that left
  their text and category as they were: it alters only the answers of that subtree
  that are filed under one of its keys, or under none (`offers_scope`; see
  `catalog.read_models.product_search.word_keys`), and not those a category scope
  holds. A reader turns each record into the scopes it touches (`touched_by`).

The newest `RETAINED_BATCHES` batches' rows are kept, older ones trimmed by the fold;
`ScopeChanges.gap` tells a reader that fell behind to start over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tandem.answercache import EVERYTHING

__all__ = [
    "CATALOG",
    "EVERYTHING",
    "RETAINED_BATCHES",
    "ScopeChanges",
    "offer_change",
    "offers_scope",
    "product_scope",
    "product_scopes",
    "touched_by",
]

CATALOG = ""

# The records of about this many of the newest batches are kept; older ones may be
# trimmed. (Positions are not counted: their spacing is the event log's affair.)
RETAINED_BATCHES = 10_000


@dataclass(frozen=True, slots=True)
class ScopeChanges:
    """What a read model recorded after a cursor, read in one snapshot.

    A reader asks from `None` (from now: no rows, the cursor where it stands), then from
    each answer's `cursor`. The cursor is the store's own (a row number, a stream
    entry), in the order records were written, not by event position: records of an
    event applied late (a parked event retried) still come after it.
    """

    checkpoint: int  # the read model's checkpoint in that snapshot
    cursor: Any  # where the next read goes on from
    gap: bool = False  # records after the cursor asked from may be gone: start over
    # (position, scope), in the order written
    rows: list[tuple[int, str]] = field(default_factory=list)


def product_scope(product_id: str) -> str:
    """The scope of the answers that show this product (no category id, `CATALOG` or
    `EVERYTHING` starts with `~`)."""
    return "~p:" + product_id


def product_scopes(categories: Iterable[str], ancestors: dict[str, list[str]]) -> set[str]:
    """The scopes a change of products in `categories` touches: each category's
    ancestors, itself included (`ancestors[c]`), and the whole catalog."""
    touched = {CATALOG}
    for category in categories:
        touched.update(ancestors.get(category, (category,)))
    return touched


_OFFERS = "~o:"
_OFFER_CHANGE = "~c:"


def offers_scope(category: str, key: str | None = None) -> str:
    """The scope of the answers about `category`'s subtree (or `CATALOG`) that an offer
    change there may alter: a text search's with word key `key`, or (None) any other.

    >>> offers_scope("c1", "tra"), offers_scope("c1")
    ('~o:tra|c1', '~o:|c1')
    """
    return f"{_OFFERS}{key or ''}|{category}"


def offer_change(category: str, keys: Iterable[str]) -> str:
    """The record of offer changes in `category`'s subtree (or `CATALOG`) to products
    whose text has these word keys (which hold no space or `|`)."""
    return f"{_OFFER_CHANGE}{' '.join(keys)}|{category}"


def touched_by(record: str) -> list[str]:
    """The scopes a recorded scope touches: an offer change touches the answers of its
    subtree filed under no key or one of its keys; any other, itself.

    >>> touched_by(offer_change("c1", ["sho", "tra"]))
    ['~o:|c1', '~o:sho|c1', '~o:tra|c1']
    >>> touched_by("c1")
    ['c1']
    """
    if not record.startswith(_OFFER_CHANGE):
        return [record]
    keys, _, category = record[len(_OFFER_CHANGE) :].partition("|")
    return [offers_scope(category), *(offers_scope(category, key) for key in keys.split())]
