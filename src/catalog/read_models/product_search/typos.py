"""Typo tolerance: the rule both text backends (PostgreSQL, SQLite) apply alike.

Only when full text finds nothing, a search is run again with every term of at least
`MIN_CHARS` characters matched by trigram word similarity (`pg_trgm`'s, reproduced for
SQLite in `trigrams`), at least `THRESHOLD`, against the words of the product's name
and category path; shorter terms still match as full text, every filter still applies,
and relevance ranks by the summed similarity of the similar terms, best first. So
"kettel" finds kettles, while a search that finds anything exactly is never diluted by
near misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from catalog.read_models.product_search.postgres_words import words
from catalog.read_models.product_search.trigrams import float4, word_similarity

THRESHOLD = 0.5
MIN_CHARS = 3


@dataclass(frozen=True)
class Typos:
    """How a search's terms match in the fallback: `exact` as full text (prefixes, as
    the first try matched them), `similar` (each as its words joined by spaces) by
    trigram word similarity."""

    exact: tuple[str, ...]
    similar: tuple[str, ...]

    def score(self, fuzzy: str) -> float | None:
        """The relevance of a product whose name and category path words are `fuzzy`:
        its similarities summed as PostgreSQL sums `real` values (None: a term falls
        short of the threshold)."""
        total = 0.0
        for term in self.similar:
            similarity = word_similarity(term, fuzzy)
            if similarity < THRESHOLD:
                return None
            total = float4(total + similarity)
        return total


def typo_terms(terms: Sequence[str]) -> Typos | None:
    """The fallback of a search with these terms (None: no term is long enough)."""
    similar = tuple(" ".join(words(t)) for t in terms if len(t) >= MIN_CHARS)
    if not similar:
        return None
    return Typos(tuple(t for t in terms if len(t) < MIN_CHARS), similar)


def fuzzy_text(name: str, category_path: str) -> str:
    """The words a product's typos are matched against: its name's, then its category
    path's (PostgreSQL keeps them as the `fuzzy` column)."""
    return " ".join([*words(name), *words(category_path)])
