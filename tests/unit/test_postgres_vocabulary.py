"""How a word prefix becomes a range of the search vocabulary's words."""

from __future__ import annotations

import sys

import pytest

from catalog.read_models.product_search.postgres_vocabulary import expansion, prefix_end
from catalog.read_models.product_search.postgres_words import QueryTerm, query_terms


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("trail", "traim"),
        ("a", "b"),
        ("z" + chr(sys.maxunicode), "{"),
        (chr(sys.maxunicode) * 2, None),
        ("x\ud7ff", "x\ue000"),  # the next code point is a surrogate: skipped
        ("é", "ê"),
    ],
)
def test_a_prefix_range_ends_above_every_word_it_begins(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end
    if end is not None:
        for word in (prefix, prefix + "a", prefix + chr(sys.maxunicode)):
            assert prefix <= word < end
            assert word.encode() < end.encode()  # the "C" collation's order


def test_only_a_single_word_prefix_is_expanded() -> None:
    trail, a, phrase = query_terms(("trail", "a", "ab\u19b0cd")) or ()
    assert trail == QueryTerm("'trail':*", "trail")
    assert a == QueryTerm("'a'", None)
    assert phrase == QueryTerm("('ab' <-> 'cd':*)", None)
    bound: list[str] = []

    def param(value: str) -> str:
        bound.append(value)
        return f"${len(bound)}"

    assert expansion("vocabulary", a, param) == "$1"
    sql = expansion("vocabulary", trail, param)
    assert bound[1:] == ["trail", "traim", "'trail':*"]
    assert "v.word >= $2 AND v.word < $3" in sql
