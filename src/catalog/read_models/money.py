"""Money in the read models: integer cents inside stores, two-decimal strings in the
documents they serve.

Amounts come from events the domain has validated (`catalog.domain.values.money`: at
most two decimals), so a conversion to cents is exact; the half-up rounding only
matters for figures the read models compute themselves, such as an average price.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def cents(amount: str | Decimal | int) -> int:
    """Integer cents of a money amount ("19.99" → 1999)."""
    return int((Decimal(amount) * 100).to_integral_value(ROUND_HALF_UP))


def from_cents(value: int) -> str:
    """A number of cents as a two-decimal string (1999 → "19.99"), exact at any size
    (integer arithmetic: no decimal context to round in)."""
    units, rest = divmod(abs(value), 100)
    return f"{'-' if value < 0 else ''}{units}.{rest:02d}"


def optional_from_cents(value: int | None) -> str | None:
    """`from_cents`, passing None through (a figure with nothing to compute it from)."""
    return None if value is None else from_cents(value)


def two_decimals(amount: str | Decimal | int) -> str:
    """A money amount as a two-decimal string ("5" → "5.00"), at any size: formatting
    keeps every digit, where `quantize` refuses past the context's 28 digits (a sum
    over a DECIMAL(38, 2) column can have 36)."""
    return f"{Decimal(amount):.2f}"


def average_cents(total: int, count: int) -> int:
    """The mean of `count` amounts adding up to `total` cents, rounded half up."""
    return int((Decimal(total) / count).to_integral_value(ROUND_HALF_UP))
