"""Who is calling: the bearer token of a request, checked, with failures held back.

A request that needs a token is answered, in this order: 429 if its client address has
failed too often lately (`catalog.api.auth_failures`; the token is not checked), 401
without a bearer token or with one the server does not accept (a failure counted
against the address), 403 if the token lacks the route's scope.
"""

from __future__ import annotations

from starlette.types import Scope

from catalog.api.auth_failures import AuthFailures
from catalog.api.problems import Problem
from catalog.tokens import Principal
from catalog.tokens.verifier import TokenVerifier


def client_address(scope: Scope) -> str:
    """The address the server reports the request from ("" when it reports none)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class Authenticator:
    """Bearer tokens checked by `verifier`, failed attempts counted by `failures`."""

    def __init__(self, verifier: TokenVerifier, failures: AuthFailures) -> None:
        self.verifier = verifier
        self.failures = failures

    async def caller(self, header: str, address: str, scope: str | None) -> Principal:
        """The caller an Authorization header names, required to hold `scope` (if given)."""
        wait = self.failures.held_back(address)
        if wait is not None:
            raise Problem(
                429,
                "too-many-failed-authentications",
                "Too many failed authentications",
                f"Too many invalid tokens came from this address; retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "A bearer token is required.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = await self.verifier.verify(token.strip())
        if found is None:
            self.failures.failed(address)
            raise Problem(
                401,
                "unauthorized",
                "Unauthorized",
                "The bearer token is not valid.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope is not None and not found.allows(scope):
            raise Problem(403, "forbidden", "Forbidden", f"The token lacks the scope {scope!r}.")
        return found
