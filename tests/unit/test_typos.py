"""The typo rule both search backends apply, and `pg_trgm`'s word similarity as the
SQLite search computes it (compared with PostgreSQL's own in
`tests/integration/test_trigram_similarity.py`)."""

from __future__ import annotations

from catalog.read_models.product_search.sqlite_typos import needed
from catalog.read_models.product_search.trigrams import trigrams, word_similarity
from catalog.read_models.product_search.typos import THRESHOLD, typo_terms


def test_trigrams_pad_each_word_as_pg_trgm_does() -> None:
    assert trigrams("cat") == ["  c", " ca", "cat", "at "]
    assert trigrams("a bc") == ["  a", " a ", "  b", " bc", "bc "]
    assert trigrams("") == []


def test_word_similarity_takes_the_best_extent_of_the_text() -> None:
    assert word_similarity("word", "two words") == 0.800000011920929  # pg_trgm's example
    assert word_similarity("kettel", "electric kettle") == 0.5714285969734192
    assert word_similarity("kettle", "kettle") == 1.0
    assert word_similarity("xyz", "kettle") == 0.0
    assert word_similarity("", "kettle") == 0.0


def test_only_terms_of_three_characters_or_more_are_typo_tolerant() -> None:
    assert typo_terms(("ab", "c")) is None
    typos = typo_terms(("kettel", "xl"))
    assert typos is not None
    assert (typos.similar, typos.exact) == (("kettel",), ("xl",))


def test_a_product_below_the_threshold_in_any_term_is_left_out() -> None:
    typos = typo_terms(("runer", "trial"))
    assert typos is not None
    assert typos.scorer().score(["trail", "runner"]) is None  # "trial" is a third like "trail"
    one = typo_terms(("runer",))
    assert one is not None
    assert one.scorer().score(["trail", "runner"]) == 0.625


def test_a_product_must_hold_the_thresholds_share_of_a_terms_trigrams() -> None:
    assert THRESHOLD == 0.5
    assert [needed(n) for n in (1, 2, 3, 6, 7)] == [1, 1, 2, 3, 4]
