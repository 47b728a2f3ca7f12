"""The one statement that answers a PostgreSQL product search, as SQL and parameters.

A statement sees one snapshot, so its total, facets and page describe the same moment
of the read model. It returns whether the searched category exists, a count of the
matches per (category, price bucket) (which gives the total and both facets), the page
(keyset: it seeks past the cursor's sort key) and the names of the facet categories,
each as JSON.

A search with text finds its matches once (`m`, materialized): one scan of the GIN index
of the match rows gives the candidates (the text and the category subtree, whose lexeme
every product below it carries), and those rows hold the price, stock and status the
filters, counts and sort read, so no other row is read per match (the trigram fallback
joins the text rows, which carry its words); the counts and the page are both read from
`m`. A search without text reads the offer rows alone (and the kept facet counts, unless
it has a price range). Either reads the text rows only for the page's names and SKUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.read_models.product_search.postgres_schema import SearchTables
from catalog.read_models.product_search.postgres_vocabulary import expansion
from catalog.read_models.product_search.postgres_words import QueryTerm, category_lexeme
from catalog.read_models.product_search.rules import PlannedSearch

# Sort key expressions of the matches `m` after the relevance key (the id breaks ties).
_MATCH_KEYS = {
    "relevance": "m.rank",
    "price_asc": "m.price_cents",
    "price_desc": "m.price_cents",
    "newest": "m.created_position",
}
# The same, of the offer rows a search without text reads.
_OFFER_KEYS = {
    "price_asc": "o.price_cents",
    "price_desc": "o.price_cents",
    "newest": "o.created_position",
}


class Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


@dataclass(frozen=True)
class Text:
    """How the search text matches: full-text terms, all required, and trigram terms
    (the typo fallback's)."""

    terms: tuple[QueryTerm, ...] = ()
    fuzzy: tuple[str, ...] = ()

    @property
    def query(self) -> str | None:
        """The terms' `tsquery` literal, their prefixes as prefixes (None: no terms)."""
        return " & ".join(term.literal for term in self.terms) or None

    def clauses(self, t: SearchTables, param: Params, category: str | None) -> list[str]:
        """WHERE terms on the match row `x` (and, for trigram terms, the text row `p`).
        The terms' prefixes are expanded from the vocabulary, and a category narrows the
        full text to its subtree (its lexeme, which every product below it carries), so
        one GIN scan finds both."""
        operands = [expansion(t.vocabulary, term, param) for term in self.terms]
        if category is not None:
            operands.append(param(category_lexeme(category)))
        found = []
        if operands:
            query = " || ' & ' || ".join(operands)
            found.append(f"x.search @@ (SELECT ({query})::tsquery)")
        return found + [f"{param(term, '::text')} <% p.fuzzy" for term in self.fuzzy]

    def rank(self, param: Params) -> str:
        """The relevance key: ascending, best first, as the cursor's float. Full text
        ranks by the terms as written (prefixes unexpanded, no category lexeme), so a
        product's rank does not depend on the vocabulary or the category searched."""
        if self.fuzzy:
            scores = " + ".join(
                f"word_similarity({param(term, '::text')}, p.fuzzy)" for term in self.fuzzy
            )
            return f"(-({scores}))::float8"
        return f"(-ts_rank(x.search, {param(self.query, '::text::tsquery')}))::float8"


def _offer_clauses(s: PlannedSearch, param: Params, row: str = "o") -> list[str]:
    """WHERE terms on the offer (or match) row `row`: status, stock and price range."""
    clauses = [f"{row}.status = 'active'"]
    if s.in_stock is True:
        clauses.append(f"{row}.stock > 0")
    elif s.in_stock is False:
        clauses.append(f"{row}.stock = 0")
    if s.min_cents is not None:
        clauses.append(f"{row}.price_cents >= {param(s.min_cents, '::bigint')}")
    if s.max_cents is not None:
        clauses.append(f"{row}.price_cents <= {param(s.max_cents, '::bigint')}")
    return clauses


def _subtree(t: SearchTables, s: PlannedSearch, param: Params, column: str) -> list[str]:
    """The WHERE term keeping `column` in the searched category's subtree, if any."""
    if s.category is None:
        return []
    subtree = f"SELECT descendant FROM {t.closure} WHERE ancestor = {param(s.category)}"
    return [f"{column} IN ({subtree})"]


def _direction(s: PlannedSearch) -> str:
    return " DESC" if s.order.descending else ""


def _after(s: PlannedSearch, key: str, id: str, param: Params) -> list[str]:
    """The keyset term that seeks past the cursor, if any."""
    if s.after is None:
        return []
    comparison = "<" if s.order.descending else ">"
    key_type = "::float8" if s.order.name == "relevance" else "::bigint"
    after = f"({param(s.after[0], key_type)}, {param(s.after[1], '::text')})"
    return [f"({key}, {id}) {comparison} {after}"]


def _order(s: PlannedSearch, key: str, id: str) -> str:
    return f"{key}{_direction(s)}, {id}{_direction(s)}"


def _page(t: SearchTables, top: str) -> str:
    """The page's rows, from `top`: the sort keys and product keys of the page."""
    return (
        "SELECT top.sort_key, o.id, p.sku, p.name, o.price, o.currency, o.stock,"
        f" o.category_id, c.name AS category_name, o.status FROM ({top}) top"
        f" JOIN {t.offers} o USING (created_position)"
        f" JOIN {t.products} p USING (created_position)"
        f" LEFT JOIN {t.categories} c ON c.id = o.category_id"
    )


def _text_parts(t: SearchTables, s: PlannedSearch, text: Text, param: Params) -> tuple[str, ...]:
    """The matches `m`, and the counts and page read from them, of a search with text.

    `m` holds what the counts and the sort need, no more: each match costs a row of it,
    while only the page's rows are read in full.
    """
    rank = text.rank(param) if s.order.name == "relevance" else "NULL::float8"
    clauses = [*text.clauses(t, param, s.category), *_offer_clauses(s, param, "x")]
    rows = f"{t.matches} x"
    if text.fuzzy:
        rows += f" JOIN {t.products} p USING (created_position)"
    matches = (
        "SELECT x.created_position, x.id, x.category_id, x.price_cents, x.bucket,"
        f" {rank} AS rank FROM {rows} WHERE {' AND '.join(clauses)}"
    )
    counts = "SELECT m.category_id, m.bucket, count(*) AS n FROM m GROUP BY 1, 2"
    key = _MATCH_KEYS[s.order.name]
    seek = _after(s, key, "m.id", param)
    top = (
        f"SELECT {key} AS sort_key, m.created_position FROM m"
        f"{' WHERE ' + ' AND '.join(seek) if seek else ''}"
        f" ORDER BY {_order(s, key, 'm.id')} LIMIT {param(s.limit + 1)}"
    )
    return matches, counts, _page(t, top)


def _counts_without_text(t: SearchTables, s: PlannedSearch, param: Params) -> str:
    """Matches per (category, price bucket) of a search without text."""
    if s.min_cents is None and s.max_cents is None:
        # Every filter left is a dimension of the kept counts: no product is read.
        clauses = ["fc.n > 0", *_subtree(t, s, param, "fc.category_id")]
        if s.in_stock is not None:
            clauses.append(f"fc.in_stock = {param(s.in_stock)}")
        return (
            f"SELECT fc.category_id, fc.bucket, sum(fc.n)::bigint AS n FROM {t.facets} fc"
            f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
        )
    clauses = [*_subtree(t, s, param, "o.category_id"), *_offer_clauses(s, param)]
    return (
        f"SELECT o.category_id, o.bucket, count(*) AS n FROM {t.offers} o"
        f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
    )


def _page_without_text(t: SearchTables, s: PlannedSearch, param: Params) -> str:
    """The page's rows of a search without text (one more than the limit, to know if
    another page follows)."""
    # The sort `plan` resolved: relevance without search text is newest first.
    key = _OFFER_KEYS[s.order.name]
    if s.category is not None and s.order.name != "newest":
        return _page(t, _cheapest_per_category(t, s, param, key))
    clauses = [
        *_subtree(t, s, param, "o.category_id"),
        *_offer_clauses(s, param),
        *_after(s, key, "o.id", param),
    ]
    top = (
        f"SELECT {key} AS sort_key, o.created_position FROM {t.offers} o"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY {_order(s, key, 'o.id')} LIMIT {param(s.limit + 1)}"
    )
    return _page(t, top)


def _cheapest_per_category(t: SearchTables, s: PlannedSearch, param: Params, key: str) -> str:
    """The page's sort keys and product keys of a price-sorted search of a category
    without text: the first rows of each category of the subtree, each read in price
    order from the category's index, then merged. Walking the price index of every
    product instead, as a plan must when it cannot tell a subtree's size, passes over
    most of the catalog to fill the page of a small category."""
    limit = param(s.limit + 1)
    clauses = [
        "o.category_id = d.descendant",
        *_offer_clauses(s, param),
        *_after(s, key, "o.id", param),
    ]
    subtree = f"SELECT descendant FROM {t.closure} WHERE ancestor = {param(s.category)}"
    first = (
        f"SELECT {key} AS sort_key, o.created_position, o.id FROM {t.offers} o"
        f" WHERE {' AND '.join(clauses)} ORDER BY {_order(s, key, 'o.id')} LIMIT {limit}"
    )
    return (
        f"SELECT c.sort_key, c.created_position FROM ({subtree}) d"
        f" CROSS JOIN LATERAL ({first}) c"
        f" ORDER BY {_order(s, 'c.sort_key', 'c.id')} LIMIT {limit}"
    )


def statement(t: SearchTables, s: PlannedSearch, text: Text | None) -> tuple[str, list[Any]]:
    """One statement answering the whole search: whether the category exists, the
    counts, the page and the names of the facet categories, in one round trip."""
    param = Params()
    known = "true"
    if s.category is not None:
        known = f"EXISTS (SELECT 1 FROM {t.categories} WHERE id = {param(s.category)})"
    with_matches = ""
    if text is None:
        counts = _counts_without_text(t, s, param)
        page = _page_without_text(t, s, param)
    else:
        matches, counts, page = _text_parts(t, s, text, param)
        with_matches = f"WITH m AS MATERIALIZED ({matches}) "
    parent = "IS NULL" if s.category is None else f"= {param(s.category)}"
    order = f"pg.sort_key{_direction(s)}, pg.id{_direction(s)}"
    sql = (
        f"{with_matches}SELECT {known} AS known,"
        f" (SELECT coalesce(json_agg(json_build_array(c.category_id, c.bucket, c.n)), '[]')"
        f"  FROM ({counts}) c)::text AS counts,"
        f" (SELECT coalesce(json_agg(row_to_json(pg) ORDER BY {order}), '[]')"
        f"  FROM ({page}) pg)::text AS page,"
        f" (SELECT coalesce(json_agg(json_build_array(cl.descendant, k.id, k.name)), '[]')"
        f"  FROM {t.categories} k JOIN {t.closure} cl ON cl.ancestor = k.id"
        f"  WHERE k.parent_id {parent})::text AS children"
    )
    return sql, param.values
