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

import struct
from collections.abc import Sequence

_FLOAT4 = struct.Struct("f")


def float4(value: float) -> float:
    """`value` rounded to single precision, as PostgreSQL's `real` holds it."""
    result: float = _FLOAT4.unpack(_FLOAT4.pack(value))[0]
    return result


def trigrams(text: str) -> list[str]:
    """The trigrams of `text` in order, repeats included (`generate_trgm_only`)."""
    found: list[str] = []
    for word in text.split():
        padded = f"  {word} "
        found.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    return found


def _similarity(count: int, len1: int, len2: int) -> float:
    return float4(count / (len1 + len2 - count))


def _iterate(indexes: Sequence[int], found: Sequence[bool], ulen1: int) -> float:
    """`iterate_word_similarity` for plain (not strict) word similarity."""
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
        current = _similarity(count, ulen1, ulen2)
        # Also try moving the lower bound up, for a greater similarity.
        tmp_count, tmp_ulen2, prev_lower = count, ulen2, lower
        for tmp_lower in range(lower, upper + 1):
            candidate = _similarity(tmp_count, ulen1, tmp_ulen2)
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
    return best


def word_similarity(term: str, text: str) -> float:
    """`pg_trgm`'s `word_similarity(term, text)`: how much of `term` the extent of
    `text` most like it holds, from 0 to 1 (a `float4` value)."""
    needle = set(trigrams(term))
    ids: dict[str, int] = {}
    indexes = [ids.setdefault(trigram, len(ids)) for trigram in trigrams(text)]
    found = [trigram in needle for trigram in ids]
    return _iterate(indexes, found, len(needle))
