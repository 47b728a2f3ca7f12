"""Word keys: which text searches a change to a product's offer alone can alter.

A text search finds a product only if every word of the search begins a word of the
product's searchable text: its name, SKU, description and category path (`rules`,
`postgres_words`; a search word FTS5 splits into a phrase needs its first word whole).
So a change that leaves a product's text and category as they were (its price, its
stock, its status: its *offer*) alters a text search's answer only if some word of the
product's text begins with the first `KEY_CHARS` characters of the search's longest
word: the search's *key* (`search_key`). The folds record such a change with the keys
of the product's text (`text_keys`), and a cached text search answered by full text is
filed under its key (`catalog.read_models.scopes`); every other search (no words, or
none that long, or one answered by the typo fallback, which matches by similarity) is
filed under every offer change of its category.

    >>> text_keys("Acme Trail Shoe TR-200", "shoes for the trail")
    ['200', 'acm', 'for', 'sho', 'the', 'tra']
    >>> search_key(("trail", "sh"))
    'tra'
"""

from __future__ import annotations

from collections.abc import Sequence

from catalog.read_models.product_search.postgres_words import words

KEY_CHARS = 3


def text_keys(*texts: str) -> list[str]:
    """The keys of a product's text (its name, SKU, description, category path): the
    first `KEY_CHARS` characters of each word at least that long, sorted."""
    return sorted({w[:KEY_CHARS] for text in texts for w in words(text) if len(w) >= KEY_CHARS})


def search_key(terms: Sequence[str]) -> str | None:
    """The key of a search with these terms (`rules.search_terms`): the first
    `KEY_CHARS` characters of its longest first word of a term, the earliest of equals
    (None: no word that long)."""
    best = ""
    for term in terms:
        split = words(term)  # as both backends split it: a product needs the first whole
        if split and len(split[0]) > len(best):
            best = split[0]
    return best[:KEY_CHARS] if len(best) >= KEY_CHARS else None
