"""PostgreSQL's `pg_trgm` word similarity, in Python, for the SQLite search's typo fallback.

The PostgreSQL search keeps a product when `word_similarity(term, fuzzy)` reaches the
threshold and ranks it by that value, so the SQLite search computes the same function
the same way: `trigrams` as `generate_trgm_only` makes them (each word padded with two
spaces before and one after, every three consecutive characters of it), and
`word_similarity` as `calc_word_similarity` and `iterate_word_similarity` find the
"continuous extent" of the text's trigrams most like the term's, greedily, in `float4`.

The inputs are already words as FTS5 splits them (`postgres_words.words`) joined by
spaces, so splitting on spaces is `pg_trgm`'s own split. One difference is left: a
trigram of characters taking more than three UTF-8 bytes is a CRC in `pg_trgm`, and two
such trigrams may collide there; here they never do.

    >>> word_similarity("kettel", "electric kettle")
    0.5714285969734192
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

_FLOAT4 = struct.Struct("f")


def float4(value: float) -> float:
    """`value` rounded to single precision, as PostgreSQL's `real` holds it."""
    result: float = _FLOAT4.unpack(_FLOAT4.pack(value))[0]
    return result


@functools.lru_cache(maxsize=1 << 14)
def word_trigrams(word: str) -> tuple[str, ...]:
    """The trigrams of one word in order: two spaces before it, one after."""
    padded = f"  {word} "
    return tuple(padded[i : i + 3] for i in range(len(padded) - 2))


def trigrams(text: str) -> list[str]:
    """The trigrams of `text` in order, repeats included (`generate_trgm_only`)."""
    return [trigram for word in text.split() for trigram in word_trigrams(word)]


def _iterate(indexes: Sequence[int], found: Sequence[bool], ulen1: int) -> float:
    """`iterate_word_similarity` for plain (not strict) word similarity.

    Similarities are compared as doubles and rounded to `float4` once, at the end: for
    texts of fewer than a few thousand trigrams, two different ratios of such counts
    differ by far more than a `float4` step, so they order as their roundings do.
    """
    lastpos = [-1] * len(found)
    ulen2 = count = 0
    lower = upper = -1
    best = 0.0
    for i, index in enumerate(indexes):
        if lower >= 0 or found[index]:
            if lastpos[index] < 0:
                ulen2 += 1
                count += found[index]
            lastpos[index] = i
        if not found[index]:
            continue
        upper = i
        if lower == -1:
            lower, ulen2 = i, 1
        current = count / (ulen1 + ulen2 - count)
        # Also try moving the lower bound up, for a greater similarity.
        tmp_count, tmp_ulen2, prev_lower = count, ulen2, lower
        for tmp_lower in range(lower, upper + 1):
            candidate = tmp_count / (ulen1 + tmp_ulen2 - tmp_count)
            if candidate > current:
                current, ulen2, lower, count = candidate, tmp_ulen2, tmp_lower, tmp_count
            tmp_index = indexes[tmp_lower]
            if lastpos[tmp_index] == tmp_lower:
                tmp_ulen2 -= 1
                tmp_count -= found[tmp_index]
        best = max(best, current)
        for tmp_lower in range(prev_lower, lower):
            tmp_index = indexes[tmp_lower]
            if lastpos[tmp_index] == tmp_lower:
                lastpos[tmp_index] = -1
    return float4(best)


class Needle:
    """A term to compare many texts with, remembering the answers.

    Only the stretch of a text from its first trigram of the term's to its last one
    moves the result (the iteration skips what comes before and computes nothing after),
    and within it only which trigrams are the term's and which repeat: texts alike in
    that share one computation (`_shape`), and so do texts with the same words there.
    """

    def __init__(self, term: str) -> None:
        self.trigrams = frozenset(trigrams(term))
        self._hits: dict[str, frozenset[str]] = {}
        self._by_words: dict[tuple[str, ...], float] = {}
        self._by_shape: dict[tuple[str | int, ...], float] = {}

    def hits(self, word: str) -> frozenset[str]:
        """The term's trigrams `word` holds."""
        found = self._hits.get(word)
        if found is None:
            found = self._hits[word] = self.trigrams.intersection(word_trigrams(word))
        return found

    def covered(self, words: Sequence[str]) -> int:
        """How many of the term's distinct trigrams the words hold."""
        held: set[str] = set()
        for word in words:
            held.update(self.hits(word))
        return len(held)

    def _shape(self, words: Sequence[str]) -> tuple[str | int, ...]:
        term = self.trigrams
        sequence = [t for word in words for t in word_trigrams(word)]
        start = next(i for i, t in enumerate(sequence) if t in term)
        end = len(sequence) - next(i for i, t in enumerate(reversed(sequence)) if t in term)
        others: dict[str, int] = {}
        return tuple(
            t if t in term else others.setdefault(t, len(others)) for t in sequence[start:end]
        )

    def similarity(self, words: Sequence[str]) -> float:
        """`word_similarity(term, " ".join(words))`."""
        relevant = [i for i, word in enumerate(words) if self.hits(word)]
        if not relevant:
            return 0.0
        window = tuple(words[relevant[0] : relevant[-1] + 1])
        known = self._by_words.get(window)
        if known is None:
            shape = self._shape(window)
            known = self._by_shape.get(shape)
            if known is None:
                ids: dict[str | int, int] = {}
                indexes = [ids.setdefault(t, len(ids)) for t in shape]
                found = [isinstance(t, str) for t in ids]
                known = self._by_shape[shape] = _iterate(indexes, found, len(self.trigrams))
            self._by_words[window] = known
        return known


def word_similarity(term: str, text: str) -> float:
    """`pg_trgm`'s `word_similarity(term, text)`: how much of `term` the extent of
    `text` most like it holds, from 0 to 1 (a `float4` value)."""
    return Needle(term).similarity(text.split())
