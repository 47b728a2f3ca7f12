"""Value rules: money, text, currency, attributes, quantities and stock deltas."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.domain import values
from catalog.domain.errors import DomainError, InvalidInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", "0.00"),
        ("5", "5.00"),
        ("19.9", "19.90"),
        ("19.99", "19.99"),
        ("1.230", "1.23"),
        ("1E+2", "100.00"),
        (Decimal("42.50"), "42.50"),
        (7, "7.00"),
        ("999999999.99", "999999999.99"),
    ],
)
def test_money_accepts_non_negative_amounts_and_keeps_two_decimals(
    raw: Decimal | str | int, expected: str
) -> None:
    amount = values.money(raw)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize("raw", ["-0.01", "-1", Decimal("-100")])
def test_money_rejects_negative_amounts(raw: Decimal | str) -> None:
    with pytest.raises(InvalidInput, match="must not be negative") as err:
        values.money(raw)
    assert err.value.field == "price"


@pytest.mark.parametrize("raw", ["1.234", "0.001", "19.999", "999999999.999"])
def test_money_rejects_more_than_two_decimals(raw: str) -> None:
    with pytest.raises(InvalidInput, match="two decimals"):
        values.money(raw)


@pytest.mark.parametrize(
    "raw", ["NaN", "sNaN", "Infinity", "-Infinity", Decimal("NaN"), Decimal("Infinity")]
)
def test_money_rejects_nan_and_infinity(raw: Decimal | str) -> None:
    with pytest.raises(InvalidInput, match="finite"):
        values.money(raw)


@pytest.mark.parametrize("raw", ["1000000000", "1000000000.00", "1E+10", "1E+100000"])
def test_money_rejects_amounts_of_a_billion_or_more(raw: str) -> None:
    with pytest.raises(InvalidInput, match="below 1000000000"):
        values.money(raw)


@pytest.mark.parametrize("raw", ["", "abc", "1,50", "$5", "1.2.3"])
def test_money_rejects_text_that_is_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidInput, match="decimal number"):
        values.money(raw)


def test_money_reports_the_field_it_checks() -> None:
    with pytest.raises(InvalidInput) as err:
        values.money("-1", field="unit_price")
    assert err.value.field == "unit_price"
    assert str(err.value).startswith("unit_price:")


def test_money_normalizes_negative_zero_to_zero() -> None:
    assert str(values.money("-0")) == "0.00"
    assert str(values.money(Decimal("-0.00"))) == "0.00"


def test_invalid_input_is_a_domain_error_with_a_code() -> None:
    err = InvalidInput("name", "must not be empty")
    assert isinstance(err, DomainError)
    assert err.code == "invalid-input"
    assert (err.field, err.message) == ("name", "must not be empty")


def test_text_strips_surrounding_whitespace() -> None:
    assert values.text("  Blue Mug \n", "name", max_length=10) == "Blue Mug"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t "])
def test_required_text_rejects_empty_or_blank(raw: str) -> None:
    with pytest.raises(InvalidInput, match="must not be empty") as err:
        values.text(raw, "name", max_length=10)
    assert err.value.field == "name"


def test_optional_text_may_be_empty() -> None:
    assert values.text("  ", "description", max_length=10, required=False) == ""


def test_text_length_limit_is_inclusive() -> None:
    assert values.text("x" * 10, "name", max_length=10) == "x" * 10
    with pytest.raises(InvalidInput, match="at most 10 characters"):
        values.text("x" * 11, "name", max_length=10)


def test_text_length_is_measured_after_stripping() -> None:
    assert values.text("  " + "x" * 10 + "  ", "name", max_length=10) == "x" * 10


@pytest.mark.parametrize("ch", ["\x00", "\x07", "\x1b", "\r", "\x7f", "\x85"])
def test_text_rejects_control_characters(ch: str) -> None:
    with pytest.raises(InvalidInput, match="control characters"):
        values.text(f"a{ch}b", "name", max_length=10)


def test_text_rejects_lone_surrogates() -> None:
    with pytest.raises(InvalidInput):
        values.text("a\ud800b", "name", max_length=10)


def test_text_allows_newlines_and_tabs_inside() -> None:
    assert values.text("line one\n\tline two", "description", max_length=100) == (
        "line one\n\tline two"
    )


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY"])
def test_currency_accepts_three_uppercase_letters(code: str) -> None:
    assert values.currency(code) == code


@pytest.mark.parametrize("code", ["", "usd", "Usd", "US", "USDD", "U5D", " USD", "USD "])
def test_currency_rejects_anything_but_three_uppercase_letters(code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        values.currency(code)
    assert err.value.field == "currency"


def test_currency_rejects_a_trailing_newline() -> None:
    with pytest.raises(InvalidInput):
        values.currency("USD\n")


def test_attributes_are_cleaned_copies() -> None:
    raw = {" color ": " blue ", "size": ""}
    cleaned = values.attributes(raw)
    assert cleaned == {"color": "blue", "size": ""}
    assert cleaned is not raw


def test_attributes_allow_at_most_fifty_entries() -> None:
    fifty = {f"k{i}": "v" for i in range(values.MAX_ATTRIBUTES)}
    assert values.attributes(fifty) == fifty
    with pytest.raises(InvalidInput, match="at most 50 entries") as err:
        values.attributes({**fifty, "one-more": "v"})
    assert err.value.field == "attributes"


def test_attribute_keys_must_not_be_empty() -> None:
    with pytest.raises(InvalidInput, match="must not be empty"):
        values.attributes({" ": "v"})


def test_attribute_keys_hold_at_most_64_characters() -> None:
    assert values.attributes({"k" * 64: "v"}) == {"k" * 64: "v"}
    with pytest.raises(InvalidInput, match="at most 64"):
        values.attributes({"k" * 65: "v"})


def test_attribute_values_hold_at_most_256_characters() -> None:
    assert values.attributes({"k": "v" * 256}) == {"k": "v" * 256}
    with pytest.raises(InvalidInput, match="at most 256"):
        values.attributes({"k": "v" * 257})


def test_attributes_reject_control_characters() -> None:
    with pytest.raises(InvalidInput, match="control"):
        values.attributes({"k": "a\x00b"})
    with pytest.raises(InvalidInput, match="control"):
        values.attributes({"k\x1b": "v"})


@pytest.mark.parametrize("q", [1, 2, values.MAX_QUANTITY])
def test_quantity_accepts_one_up_to_the_limit(q: int) -> None:
    assert values.quantity(q) == q


@pytest.mark.parametrize("q", [0, -1, -10_000])
def test_quantity_must_be_positive(q: int) -> None:
    with pytest.raises(InvalidInput, match="must be positive"):
        values.quantity(q)


def test_quantity_is_bounded() -> None:
    with pytest.raises(InvalidInput, match="at most 10000"):
        values.quantity(values.MAX_QUANTITY + 1)


@pytest.mark.parametrize("delta", [1, -1, values.MAX_STOCK, -values.MAX_STOCK])
def test_stock_delta_accepts_non_zero_values_within_bounds(delta: int) -> None:
    assert values.stock_delta(delta) == delta


def test_stock_delta_must_not_be_zero() -> None:
    with pytest.raises(InvalidInput, match="must not be zero"):
        values.stock_delta(0)


@pytest.mark.parametrize("delta", [values.MAX_STOCK + 1, -values.MAX_STOCK - 1])
def test_stock_delta_is_bounded(delta: int) -> None:
    with pytest.raises(InvalidInput) as err:
        values.stock_delta(delta)
    assert err.value.field == "delta"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Kitchen & Dining", "kitchen-dining"),
        ("Café Crème", "cafe-creme"),
        ("  --Hi-Fi 2000--  ", "hi-fi-2000"),
        ("!!!", "category"),
        ("日本", "category"),
    ],
)
def test_slugify_makes_lowercase_ascii_slugs(name: str, slug: str) -> None:
    assert values.slugify(name) == slug
