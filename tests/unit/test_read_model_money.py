"""The read models' money conversions against the formulas the product search had of its own.

The search converted prices with `int((Decimal(price) * 100).to_integral_value())`
(banker's rounding) and formatted its price-facet bounds with
`f"{Decimal(cents) / 100:.2f}"`; it now uses `catalog.read_models.money`. These checks
pin down that the answers are the same: on every amount with at most two decimals for
`cents`, and on every integer of up to 28 digits (the default decimal precision, past
which the search's division rounds) for `from_cents`, negatives included. The facet
bounds are the price edges, far inside that range. Past 28 digits both conversions to
text stay exact, where the old formulas rounded or refused.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from catalog.read_models.money import cents, from_cents, two_decimals
from catalog.read_models.product_search.rules import PRICE_EDGES

DIGITS_28 = 10**28 - 1


def _search_cents(price: str | Decimal) -> int:
    return int((Decimal(price) * 100).to_integral_value())


def _search_money(amount: int) -> str:
    return f"{Decimal(amount) / 100:.2f}"


def test_from_cents_formats_every_small_amount_as_the_search_did() -> None:
    for amount in (*range(-100_000, 100_001), *PRICE_EDGES):
        assert from_cents(amount) == _search_money(amount)


@given(st.integers(min_value=-DIGITS_28, max_value=DIGITS_28))
def test_from_cents_formats_large_and_negative_amounts_as_the_search_did(amount: int) -> None:
    assert from_cents(amount) == _search_money(amount)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_cents_of_a_two_decimal_amount_is_the_searchs(value: int) -> None:
    amount = Decimal(value) / 100
    for price in (amount, str(amount), f"{amount:.2f}"):
        assert cents(price) == _search_cents(price) == value


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_money_text_keeps_every_digit_at_any_size(amount: int) -> None:
    sign, units, rest = "-" if amount < 0 else "", abs(amount) // 100, abs(amount) % 100
    expected = f"{sign}{units}.{rest:02d}"
    assert from_cents(amount) == expected
    # A sum over a DECIMAL(38, 2) column, as DuckDB returns it (made from text: exact).
    assert two_decimals(Decimal(expected)) == expected
