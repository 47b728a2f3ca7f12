"""The SQLite search's typo fallback (the rule is `typos`): which products may be like
the search, from the vocabulary the fold keeps.

The fold keeps every word of every name and category path it indexed (`ps_words`) and
the trigrams of each (`ps_word_trigrams`, `remember`). A product is kept when, for each
similar term, some extent of its name and category path words holds a share of the
term's trigrams that reaches the threshold, which needs at least that share of the
term's distinct trigrams (`needed`) among the product's. So of any `len - needed + 1` of
them the product carries one, in one of its words: the fallback takes the rarest (in the
vocabulary) that many trigrams, the words carrying them, and asks the FTS index for the
products with any of those words (`candidates`). Each candidate is then scored exactly
(`Typos.score`); the candidates are a superset of the answer, never a guess.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

import orjson

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
)


def remember(tx: sqlite3.Connection, text: str) -> None:
    """Add the words of `text` (a name or a category name) to the vocabulary, with the
    trigrams of each new one. Words are never removed: one no product carries any more
    finds nothing."""
    new = tx.execute(
        "INSERT INTO ps_words (word) SELECT value FROM json_each(?) WHERE true"
        " ON CONFLICT DO NOTHING RETURNING word",
        (orjson.dumps(words(text)).decode(),),
    ).fetchall()
    if new:
        tx.executemany(
            "INSERT OR IGNORE INTO ps_word_trigrams (trigram, word) VALUES (?, ?)",
            [(trigram, word) for (word,) in new for trigram in set(trigrams(word))],
        )


def needed(distinct: int) -> int:
    """How many of a term's `distinct` trigrams a product must carry to reach the
    threshold: c / (distinct + extent - c) is at most c / distinct, as extent >= c."""
    return max(1, math.ceil(distinct * THRESHOLD))


def _marks(conn: sqlite3.Connection, trigram_list: Sequence[str], sql: str) -> list[sqlite3.Row]:
    marks = ", ".join("?" for _ in trigram_list)
    return conn.execute(sql.format(marks=marks), list(trigram_list)).fetchall()


def similar_words(conn: sqlite3.Connection, term: str) -> list[str]:
    """Every vocabulary word a product like `term` must carry one of (none: no product
    can be like it)."""
    wanted = sorted(set(trigrams(term)))
    if not wanted:
        return []
    need = needed(len(wanted))
    counts = {
        str(t): int(n)
        for t, n in _marks(
            conn,
            wanted,
            "SELECT trigram, count(*) FROM ps_word_trigrams WHERE trigram IN ({marks})"
            " GROUP BY trigram",
        )
    }
    if len(counts) < need:
        return []
    rarest = sorted(wanted, key=lambda t: (counts.get(t, 0), t))[: len(wanted) - need + 1]
    present = [t for t in rarest if t in counts]
    rows = _marks(
        conn, present, "SELECT DISTINCT word FROM ps_word_trigrams WHERE trigram IN ({marks})"
    )
    return [str(row[0]) for row in rows]


def candidates(conn: sqlite3.Connection, typos: Typos) -> str | None:
    """The FTS5 MATCH text finding every product the fallback may keep (None: none)."""
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
