"""Whom an order is for: a name and an email address, given at checkout."""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.domain import values
from catalog.domain.errors import InvalidInput

MAX_NAME = 200
# RFC 5321's limit on a forward path; the form is checked loosely (one @, a dotted
# domain, no spaces): whether the address receives mail is not the catalog's to know.
MAX_EMAIL = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Contact:
    name: str
    email: str

    @classmethod
    def of(cls, name: str, email: str) -> Contact:
        """The contact, if `name` and `email` pass the rules."""
        checked = values.text(email, "email", max_length=MAX_EMAIL)
        if not _EMAIL.fullmatch(checked):
            raise InvalidInput("email", "must be an email address, e.g. ada@example.com")
        return cls(values.text(name, "name", max_length=MAX_NAME), checked)
