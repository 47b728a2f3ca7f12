"""Words for PostgreSQL full text, split exactly as the SQLite FTS5 search model splits them.

Both search backends must find the same products for the same text, so PostgreSQL
cannot use its own parser (it keeps `e-mail` whole, reads `19.99` as one number, and
folds case and accents by other rules). Instead the projection splits text into words
here and hands PostgreSQL finished lexemes: a `tsvector` literal per product, a
`tsquery` literal per search. No PostgreSQL text configuration is involved.

The splitting rule is SQLite's `unicode61` tokenizer with `remove_diacritics 2`, the one
`ps_fts` declares. ASCII text (nearly all of it) takes a regular expression that matches
that tokenizer byte for byte; other text goes through the tokenizer itself, in a private
in-memory SQLite database, because its Unicode tables (letters, case folding, which
accents it strips) are older than Python's and differ from them in thousands of places.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

# What `ps_fts` in catalog.read_models.product_search.sqlite declares.
TOKENIZER = "unicode61 remove_diacritics 2"
# PostgreSQL refuses lexemes of 2 KiB or more and positions above 16383.
MAX_LEXEME_BYTES = 2046
MAX_POSITION = 16383

_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_local = threading.local()


def _tokenizer() -> sqlite3.Connection:
    """This thread's in-memory FTS5 table; a SQLite connection stays in its thread."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE words USING fts5 (text, tokenize = '{TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE postings USING fts5vocab (words, instance)")
        _local.conn = conn
    return conn


def _fts5_words(text: str) -> list[str]:
    conn = _tokenizer()
    with conn:
        conn.execute("INSERT INTO words (rowid, text) VALUES (1, ?)", (text,))
        rows = conn.execute("SELECT term FROM postings ORDER BY offset").fetchall()
        conn.execute("DELETE FROM words")
    return [str(row[0]) for row in rows]


def words(text: str) -> list[str]:
    """The words of `text` in order, case-folded and without accents, as FTS5 sees them.

    >>> words("Crème brûlée, WB-2000")
    ['creme', 'brulee', 'wb', '2000']
    """
    if text.isascii():
        return [word.lower() for word in _ASCII_WORD.findall(text)]
    return _fts5_words(text)


def lexeme_text(word: str) -> str:
    """A word as PostgreSQL stores it as a lexeme: cut to the size limit at a character
    boundary.

    A cut word still matches every prefix query up to the limit; only a search for a
    word longer than 2 KiB could tell the difference.
    """
    if len(word) <= _SURELY_SHORT:
        return word
    raw = word.encode()
    if len(raw) > MAX_LEXEME_BYTES:
        return raw[:MAX_LEXEME_BYTES].decode(errors="ignore")
    return word


# A word of at most this many characters is within the size limit however it encodes
# (at most 4 bytes a character), without encoding it to find out.
_SURELY_SHORT = MAX_LEXEME_BYTES // 4


def _lexeme(word: str) -> str:
    """A quoted lexeme (`lexeme_text`), as `tsvector` and `tsquery` literals write it."""
    if len(word) <= _REMEMBERED_WORD:
        return _common_lexeme(word)
    return _quote(lexeme_text(word))


# Catalog text reuses a small vocabulary: short words are quoted once, then remembered.
_REMEMBERED_WORD = 64


@functools.lru_cache(maxsize=1 << 16)
def _common_lexeme(word: str) -> str:
    return _quote(word)


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


# Category ids longer than this are named by a digest in their lexeme, far below the
# size limit of a lexeme.
_LONG_ID_BYTES = 512


def category_lexeme(category_id: str) -> str:
    """The quoted lexeme a product carries for each category on its path, itself included.

    `words` never yields `~` or `:`, so no text, and no prefix of a search word, can
    match it: a search narrowed to a category adds it to its `tsquery`, and the GIN
    index finds the text and the subtree in one scan.
    """
    if len(category_id.encode()) > _LONG_ID_BYTES:
        return _quote("~c#" + hashlib.blake2b(category_id.encode(), digest_size=16).hexdigest())
    return _quote("~c:" + category_id)


def tsvector(
    columns: Sequence[tuple[Sequence[str], str]], *, first: int = 1, tags: Sequence[str] = ()
) -> str:
    """A `tsvector` literal of several weighted columns of words, and of `tags`.

    Each column's words take consecutive positions and a one-position gap separates the
    columns, so a phrase (see `tsquery`) never runs from one column into the next, as in
    FTS5. `first` is the first position used: a vector meant to be appended with `||`
    (which shifts it past the left side's last position) starts at 2 to keep the gap.
    `tags` are quoted lexemes without a position (`category_lexeme`): they take part in
    no phrase, and `ts_rank` of a `tsquery` without them ignores them.
    """
    positions: dict[str, list[str]] = {}
    position = first
    common = _common_lexeme
    for column_words, weight in columns:
        for word in column_words:
            lexeme = common(word) if len(word) <= _REMEMBERED_WORD else _lexeme(word)
            at = f"{position if position < MAX_POSITION else MAX_POSITION}{weight}"
            found = positions.get(lexeme)
            if found is None:
                positions[lexeme] = [at]
            else:
                found.append(at)
            position += 1
        position += 1
    entries = [f"{lexeme}:{','.join(at)}" for lexeme, at in positions.items()]
    return " ".join([*entries, *tags])


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One search term as a `tsquery` operand (`literal`): a whole word (`'a'`), a word
    prefix (`'trail':*`) or a phrase ending in one; and for a term that is a single
    word prefix, that word as a lexeme (`prefix`), which a vocabulary of the indexed
    lexemes can turn into exact ones."""

    literal: str
    prefix: str | None


def query_terms(terms: Sequence[str]) -> tuple[QueryTerm, ...] | None:
    """The `tsquery` operands that find what FTS5 finds for these search terms, all of
    them required.

    The SQLite reads match each term as `"term"*` (a prefix) or, for a one-letter term,
    `"term"`, all terms required. FTS5 splits a term into words too: one that splits
    into several words is a phrase whose last word is the prefix; one with no words
    matches nothing, and so does the whole search (None).
    """
    found: list[QueryTerm] = []
    for term in terms:
        term_words = words(term)
        if not term_words:
            return None
        lexemes = [_lexeme(word) for word in term_words]
        prefix = None
        if len(term) > 1:
            lexemes[-1] += ":*"
            if len(lexemes) == 1:
                prefix = lexeme_text(term_words[0])
        literal = lexemes[0] if len(lexemes) == 1 else f"({' <-> '.join(lexemes)})"
        found.append(QueryTerm(literal, prefix))
    return tuple(found) if found else None


def tsquery(terms: Sequence[str]) -> str | None:
    """The `tsquery` literal that finds what FTS5 finds for these search terms
    (`query_terms`, all required); None when no word could match."""
    found = query_terms(terms)
    return None if found is None else " & ".join(term.literal for term in found)
