"""The vocabulary of the PostgreSQL search: every word it has indexed, to expand prefixes.

A search term matches as a word prefix (`'trail':*`), and a prefix is slow in a GIN
index: PostgreSQL collects the rows of every lexeme beginning with it before it can
intersect them with the other terms. The fold keeps the distinct words of every text it
indexes in a table of its own (`remember`), and a search turns a prefix into the exact
lexemes that begin with it (`expansion`), which the index intersects as cheaply as any
word: `'trail':*` becomes `('trail' | 'trailer' | 'trails')`.

Words are only added, never removed: a word no product carries any more stays, and
matches nothing. A prefix that begins more than `MAX_EXPANSION` words (or none) stays a
prefix, so the `tsquery` stays small.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from catalog.read_models.product_search.postgres_words import QueryTerm

if TYPE_CHECKING:
    from tandem.db.postgres import Connection

MAX_EXPANSION = 64

# Code points PostgreSQL text cannot hold (UTF-16 surrogates), skipped by `prefix_end`.
_SURROGATES = range(0xD800, 0xE000)

# A lexeme quoted as a `tsquery` literal, in SQL: `\` and `'` escaped, as `_quote` does.
_QUOTED = "'''' || replace(replace(v.word, '\\', '\\\\'), '''', '''''') || ''''"


async def remember(tx: Connection, vocabulary: str, lexemes: Iterable[str]) -> None:
    """Add the lexemes (`postgres_words.lexeme_text`) a batch indexed to the vocabulary."""
    new = sorted(set(lexemes))
    if new:
        await tx.execute(
            f"INSERT INTO {vocabulary} (word) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            new,
        )


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that begins with `prefix`, in code point
    (and so in UTF-8 byte, "C" collation) order; None if there is none."""
    chars = prefix.rstrip(chr(sys.maxunicode))
    if not chars:
        return None
    last = ord(chars[-1]) + 1
    if last in _SURROGATES:
        last = _SURROGATES.stop
    return chars[:-1] + chr(last)


def expansion(vocabulary: str, term: QueryTerm, param: Callable[[str], str]) -> str:
    """SQL for the `tsquery` text of one term: its prefix as the exact words of the
    vocabulary that begin with it, or its literal (a whole word, a phrase, or a prefix
    that begins no word or too many). `param` binds a value and returns its placeholder.

    The range on `word` (rather than `starts_with` alone) lets the primary key serve a
    prepared statement's generic plan, whose prefix is unknown when it is planned.
    """
    if term.prefix is None:
        return param(term.literal)
    bounds = [f"v.word >= {param(term.prefix)}"]
    end = prefix_end(term.prefix)
    if end is not None:
        bounds.append(f"v.word < {param(end)}")
    return (
        f"coalesce((SELECT '(' || string_agg({_QUOTED}, ' | ') || ')'"
        f" FROM (SELECT v.word FROM {vocabulary} v WHERE {' AND '.join(bounds)}"
        f" ORDER BY v.word LIMIT {MAX_EXPANSION + 1}) v"
        f" HAVING count(*) <= {MAX_EXPANSION}), {param(term.literal)})"
    )
