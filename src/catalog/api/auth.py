"""Who is calling: the bearer token of a request, checked.

A request that needs a token is answered 401 without a bearer token or with one the
server does not accept, 403 if the token lacks the route's scope.
"""

from __future__ import annotations

from starlette.types import Scope

from catalog.api.problems import Problem
from catalog.tokens import Principal
from catalog.tokens.verifier import TokenVerifier


def client_address(scope: Scope) -> str:
    """The address the server reports the request from ("" when it reports none)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class Authenticator:
    """Bearer tokens checked by `verifier`."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def caller(self, header: str, address: str, scope: str | None) -> Principal:
        """The caller an Authorization header names, required to hold `scope` (if given)."""
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
