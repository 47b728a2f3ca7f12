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

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.read_models.product_search.postgres_words import words
from catalog.read_models.product_search.trigrams import Needle, float4

THRESHOLD = 0.5
MIN_CHARS = 3


@dataclass(frozen=True)
class Typos:
    """How a search's terms match in the fallback: `exact` as full text (prefixes, as
    the first try matched them), `similar` (each as its words joined by spaces) by
    trigram word similarity."""

    exact: tuple[str, ...]
    similar: tuple[str, ...]

    def scorer(self) -> Scorer:
        """Scores of products for this fallback, remembered for one search."""
        return Scorer(self)


class Scorer:
    """The relevance of products in a typo fallback (`Typos`)."""

    def __init__(self, typos: Typos) -> None:
        self._needles = [Needle(term) for term in typos.similar]

    def score(self, words: Sequence[str]) -> float | None:
        """The relevance of a product whose name and category path words are `words`:
        its similarities summed as PostgreSQL sums `real` values (None: a term falls
        short of the threshold).

        A similarity is at most the share of the term's trigrams the words hold, so a
        product holding too few is dismissed before any similarity is computed.
        """
        total = 0.0
        for needle in self._needles:
            if needle.covered(words) < THRESHOLD * len(needle.trigrams):
                return None
            similarity = needle.similarity(words)
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


def fuzzy_words(name: str, category_path: str) -> list[str]:
    """The words a product's typos are matched against: its name's, then its category
    path's (PostgreSQL keeps them, joined by spaces, as the `fuzzy` column)."""
    return [*words(name), *_path_words(category_path)]


@functools.lru_cache(maxsize=1024)
def _path_words(category_path: str) -> tuple[str, ...]:
    """A category path's words: few paths, shared by many products."""
    return tuple(words(category_path))
