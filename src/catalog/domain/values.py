"""Value rules shared by the aggregates: money, names, attributes, quantities."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from catalog.domain.errors import InvalidInput

MAX_PRICE = Decimal("1000000000")
MAX_QUANTITY = 10_000
MAX_STOCK = 1_000_000_000
MAX_ATTRIBUTES = 50
CURRENCY = re.compile(r"[A-Z]{3}")


def money(value: Decimal | str | int, field: str = "price") -> Decimal:
    """A non-negative amount with at most two decimals, below one billion."""
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(field, "must be a decimal number") from exc
    if not amount.is_finite():
        raise InvalidInput(field, "must be a finite number")
    if amount < 0:
        raise InvalidInput(field, "must not be negative")
    if amount >= MAX_PRICE:
        raise InvalidInput(field, "must be below 1000000000")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(field, "must have at most two decimals")
    # Adding zero turns a negative zero into zero, so "-0" is stored as "0.00".
    return amount.quantize(Decimal("0.01")) + 0


def text(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput(field, "must not be empty")
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    for ch in cleaned:
        kind = unicodedata.category(ch)
        if (kind == "Cc" and ch not in "\n\t") or kind == "Cs":
            raise InvalidInput(field, "must not contain control characters or lone surrogates")
    return cleaned


def currency(value: str) -> str:
    if not CURRENCY.fullmatch(value):
        raise InvalidInput("currency", "must be a three-letter ISO code")
    return value


def attributes(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidInput("attributes", f"at most {MAX_ATTRIBUTES} entries")
    out: dict[str, str] = {}
    for key, item in value.items():
        out[text(key, "attributes", max_length=64)] = text(
            item, "attributes", max_length=256, required=False
        )
    return out


def quantity(value: int) -> int:
    if value <= 0:
        raise InvalidInput("quantity", "must be positive")
    if value > MAX_QUANTITY:
        raise InvalidInput("quantity", f"must be at most {MAX_QUANTITY}")
    return value


def stock_delta(value: int) -> int:
    if value == 0:
        raise InvalidInput("delta", "must not be zero")
    if abs(value) > MAX_STOCK:
        raise InvalidInput("delta", f"must be between -{MAX_STOCK} and {MAX_STOCK}")
    return value


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "category"
