"""Bearer tokens: a subject and scopes, stored as digests, compared in constant time.

This module holds what every part agrees on (scopes, the caller, digests, the admin
token); `rules` what a new token must satisfy, `store` the stored tokens and their
lifecycle (`sqlite` and `postgres` keep them in the write database), and `verifier`
the check of a presented token.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tandem.files import private_dir

SCOPES = ("catalog:write", "inventory:write", "orders", "admin")
ADMIN_SUBJECT = "admin"
# The subjects of guests (`catalog.api.guests`), which no token may take.
GUEST_PREFIX = "guest:"


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    subject: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def is_guest(self) -> bool:
        """Whether a browser's guest cookie named this caller (`catalog.api.guests`)."""
        return self.subject.startswith(GUEST_PREFIX)

    def allows(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "tdm_" + secrets.token_urlsafe(32)


def admin_token(configured: str | None, data_dir: Path) -> tuple[str, bool]:
    """The admin token: the configured one, or one generated on first start and kept
    (mode 0600) in the data directory. Returns the token and whether it is new."""
    if configured:
        return configured, False
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip(), False
    token = new_token()
    private_dir(data_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True
