"""What a new customer token must be: a subject of its own, known scopes, a sane lifetime.

The subject is whom carts, orders and idempotency keys belong to: `admin` is the
configured admin token's, so no other token may take it (nor `Admin`, nor a subject
that prints as something else: blank, padded, with control characters, or too long);
nor may one take a guest's (`guest:…`, named by a browser's cookie).
A refusal is `InvalidInput` naming the field: 422 over HTTP, exit code 2 in the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog.domain.errors import InvalidInput
from catalog.tokens import ADMIN_SUBJECT, GUEST_PREFIX, SCOPES

MAX_SUBJECT = 128
# Ten years: a token is meant to be rotated, not kept forever by accident.
MAX_LIFETIME_SECONDS = 10 * 365 * 86400


def reserved(subject: str) -> bool:
    """Whether no customer token may take `subject`."""
    folded = subject.casefold()
    return folded == ADMIN_SUBJECT or folded.startswith(GUEST_PREFIX)


def check_subject(subject: str) -> str:
    """`subject` as given, if a customer token may take it."""
    if not subject.strip():
        raise InvalidInput("subject", "must not be empty or blank")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput("subject", f"must be at most {MAX_SUBJECT} characters")
    if not subject.isprintable() or subject != subject.strip():
        raise InvalidInput(
            "subject", "must be printable, without control characters or outer spaces"
        )
    if reserved(subject):
        raise InvalidInput(
            "subject",
            f"{ADMIN_SUBJECT!r} is reserved for the admin token, {GUEST_PREFIX!r}… for guests",
        )
    return subject


def takeable(subject: str) -> bool:
    """Whether `check_subject` takes `subject`."""
    try:
        check_subject(subject)
    except InvalidInput:
        return False
    return True


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes, if there is at least one and each is known."""
    wanted = frozenset(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise InvalidInput(
            "scopes", f"unknown scopes: {', '.join(unknown)} (from {', '.join(SCOPES)})"
        )
    if not wanted:
        raise InvalidInput("scopes", f"give at least one of {', '.join(SCOPES)}")
    return wanted


def check_lifetime(seconds: int | None) -> int | None:
    """Seconds until the token expires (None: it does not)."""
    if seconds is not None and not 1 <= seconds <= MAX_LIFETIME_SECONDS:
        raise InvalidInput("expires_in", f"must be from 1 to {MAX_LIFETIME_SECONDS} seconds")
    return seconds
