"""Word keys and offer-change records: a text search's key begins a word of every product
it can find, so an offer change recorded with a product's keys reaches every cached
search the product could alter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from catalog.read_models.product_search.postgres_words import words
from catalog.read_models.product_search.rules import search_terms
from catalog.read_models.product_search.word_keys import KEY_CHARS, search_key, text_keys
from catalog.read_models.scopes import CATALOG, offer_change, offers_scope, touched_by


def test_a_products_keys_are_the_beginnings_of_its_words_that_long() -> None:
    assert text_keys("Acme Trail Shoe TR-200", "", "Shoes / Running") == [
        "200",
        "acm",
        "run",
        "sho",
        "tra",
    ]
    assert text_keys("Crème brûlée") == ["bru", "cre"]  # folded as the search folds


def test_a_search_is_keyed_by_its_longest_word_or_not_at_all() -> None:
    assert search_key(search_terms("red trail sh")) == "tra"
    assert search_key(search_terms("Crème")) == "cre"
    assert search_key(search_terms("tr-200")) == "200"  # two words; "tr" too short
    assert search_key(search_terms("ab c")) is None
    assert search_key(()) is None


def test_an_offer_change_touches_its_subtrees_unkeyed_answers_and_those_of_its_keys() -> None:
    record = offer_change("c1", ["run", "tra"])
    assert touched_by(record) == [
        offers_scope("c1"),
        offers_scope("c1", "run"),
        offers_scope("c1", "tra"),
    ]
    assert offer_change(CATALOG, ["run"]) + "c1" == offer_change("c1", ["run"])
    assert touched_by("c1") == ["c1"]
    assert touched_by(offer_change(CATALOG, [])) == [offers_scope(CATALOG)]


_TEXT = st.text(alphabet="abcdeé ÉxyZ-1.", max_size=40)


@given(name=_TEXT, q=_TEXT)
def test_every_product_a_search_can_find_has_its_key(name: str, q: str) -> None:
    """The matching rule of both backends, spelled out: every word of the search begins
    a word of the product (the first of a word FTS5 splits is whole)."""
    terms = search_terms(q)
    key = search_key(terms)
    product = words(name)

    def found(term: str) -> bool:
        split = words(term)
        if len(split) == 1:
            return any(w.startswith(split[0]) for w in product)
        return bool(split) and split[0] in product

    if key is not None and terms and all(found(t) for t in terms):
        assert key in text_keys(name)
        assert len(key) == KEY_CHARS
