"""FTS5 MATCH expressions of the SQLite search: search terms as word prefixes, and
vocabulary words as whole words, each under the columns it searches."""

from __future__ import annotations

from collections.abc import Iterable

# The searched text; the filter tokens (`filters`) are matched apart.
TEXT_COLUMNS = "{name description sku category_path}"
# What the typo fallback compares a term with: the name and the category path.
FUZZY_COLUMNS = "{name category_path}"


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def prefixes(terms: Iterable[str]) -> str:
    """Every term required, in the searched text, as a word prefix; a one-letter term
    (whose prefix matches nearly everything and helps nobody) as a whole word."""
    text = " AND ".join(f"{_quoted(t)}*" if len(t) > 1 else _quoted(t) for t in terms)
    return f"{TEXT_COLUMNS} : ({text})"


def any_word(words: Iterable[str]) -> str:
    """Any of `words`, whole, in a name or category path."""
    return f"{FUZZY_COLUMNS} : ({' OR '.join(_quoted(w) for w in words)})"
