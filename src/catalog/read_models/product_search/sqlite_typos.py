"""The SQLite search's typo fallback (the rule is `typos`): which products may be like
the search, from the vocabulary the fold keeps.

The fold keeps every word of every name and category path it indexed (`ps_words`) and
the trigrams of each (`ps_word_trigrams`, `Vocabulary`). A product is kept when, for each
similar term, some extent of its name and category path words holds a share of the
term's trigrams that reaches the threshold, which needs at least that share of the
term's distinct trigrams (`needed`) among the product's. So of any `len - needed + 1` of
them the product carries one, in one of its words: the fallback takes that many
trigrams, those whose words the fewest products hold, the words carrying them, and asks
the FTS index for the products with any of those words (`candidates`). Each candidate
is then scored exactly (`typos.Scorer`): the candidates are a superset of the answer,
never a guess.

A copy of the model built before the vocabulary (version 1, served as it is while a
rebuild to this version runs) has none of these tables: its searches go without typo
tolerance until the switch."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from catalog.read_models.product_search.postgres_words import words
from catalog.read_models.product_search.sqlite_match import any_word, prefixes
from catalog.read_models.product_search.trigrams import trigrams
from catalog.read_models.product_search.typos import THRESHOLD, Typos

SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS ps_words (word TEXT PRIMARY KEY) WITHOUT ROWID",
    """
    CREATE TABLE IF NOT EXISTS ps_word_trigrams (
        trigram TEXT NOT NULL,
        word TEXT NOT NULL,
        PRIMARY KEY (trigram, word)
    ) WITHOUT ROWID
    """,
    # How many products each indexed word is in (any column): a view of the FTS index.
    "CREATE VIRTUAL TABLE IF NOT EXISTS ps_fts_terms USING fts5vocab(ps_fts, 'row')",
)


class Vocabulary:
    """Adds the words of names and category names to the vocabulary, with the trigrams
    of each new one. Words are never removed: one no product carries any more finds
    nothing.

    Nearly every word is known already. Within one batch (one transaction on one
    connection: `batch`) each word is looked up once; outside one, at every call. What
    a batch saw goes with it, so a batch that rolled back leaves nothing behind, and
    batches on other connections (another copy, another thread) see their own.
    """

    def __init__(self) -> None:
        self._seen: dict[int, set[str]] = {}

    @contextmanager
    def batch(self, tx: sqlite3.Connection) -> Iterator[None]:
        self._seen[id(tx)] = set()
        try:
            yield
        finally:
            del self._seen[id(tx)]

    def remember(self, tx: sqlite3.Connection, text: str) -> None:
        """Add the words of `text` it does not hold yet."""
        found = set(words(text))
        seen = self._seen.get(id(tx))
        if seen is not None:
            found.difference_update(seen)
            seen.update(found)
        if not found:
            return
        known = _marks(tx, sorted(found), "SELECT word FROM ps_words WHERE word IN ({marks})")
        new = sorted(found.difference(str(row[0]) for row in known))
        if new:
            tx.executemany("INSERT INTO ps_words (word) VALUES (?)", [(word,) for word in new])
            tx.executemany(
                "INSERT INTO ps_word_trigrams (trigram, word) VALUES (?, ?)",
                [(trigram, word) for word in new for trigram in set(trigrams(word))],
            )


def needed(distinct: int) -> int:
    """How many of a term's `distinct` trigrams a product must carry to reach the
    threshold: c / (distinct + extent - c) is at most c / distinct, as extent >= c."""
    return max(1, math.ceil(distinct * THRESHOLD))


def _marks(conn: sqlite3.Connection, values: Sequence[str], sql: str) -> list[sqlite3.Row]:
    marks = ", ".join("?" for _ in values)
    return conn.execute(sql.format(marks=marks), list(values)).fetchall()


def similar_words(conn: sqlite3.Connection, term: str) -> list[str]:
    """Every vocabulary word a product like `term` must carry one of (none: no product
    can be like it).

    Of the term's trigrams, any `len - needed + 1` do; those whose words the fewest
    products hold (by the FTS index's own counts, `ps_fts_terms`) are taken, so the
    index hands over as few candidates as it can.
    """
    wanted = sorted(set(trigrams(term)))
    if not wanted:
        return []
    carriers: dict[str, list[str]] = {}
    for trigram, word in _marks(
        conn, wanted, "SELECT trigram, word FROM ps_word_trigrams WHERE trigram IN ({marks})"
    ):
        carriers.setdefault(str(trigram), []).append(str(word))
    need = needed(len(wanted))
    if len(carriers) < need:
        return []
    every = sorted({word for found in carriers.values() for word in found})
    docs = {
        str(word): int(n)
        for word, n in _marks(
            conn, every, "SELECT term, doc FROM ps_fts_terms WHERE term IN ({marks})"
        )
    }
    cost = {t: sum(docs.get(word, 0) for word in carriers.get(t, ())) for t in wanted}
    cheapest = sorted(wanted, key=lambda t: (cost[t], t))[: len(wanted) - need + 1]
    return sorted({word for t in cheapest for word in carriers.get(t, ())})


def _has_vocabulary(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('ps_word_trigrams', 'ps_fts_terms')"
    ).fetchone()
    return bool(row[0] == 2)


def candidates(conn: sqlite3.Connection, typos: Typos) -> str | None:
    """The FTS5 MATCH text finding every product the fallback may keep (None: none, or
    a copy without the vocabulary)."""
    if not _has_vocabulary(conn):
        return None
    parts = []
    for term in typos.similar:
        found = similar_words(conn, term)
        if not found:
            return None
        parts.append(any_word(found))
    # As PostgreSQL: a short term without a word leaves every short term out.
    if typos.exact and all(words(t) for t in typos.exact):
        parts.append(prefixes(typos.exact))
    return " AND ".join(parts)
