"""Guests: shoppers known by a cookie of this browser instead of a bearer token.

The storefront and product pages give a browser without one a `tandem_guest` cookie
(`HttpOnly; SameSite=Lax; Path=/`, `Secure` over https): a random secret. The guest it
names is a customer like any token's subject, `guest:` and the first 32 hex digits of
the secret's SHA-256 digest, with the `orders` scope alone: carts and orders belong to
that subject and the owner checks of the domain hold as they do for tokens. The
subject is not the secret, so an order that shows it gives nothing away, and no token
may take a `guest:` subject (`catalog.tokens.rules`).

A browser sends the cookie with any request to this server, whoever asked for it, so a
state-changing request that only the cookie authenticates must show that this server's
own pages sent it: an `X-Requested-With` header (which a form cannot set, and a script
of another site cannot send here without a CORS preflight this server never approves),
and, when the browser says where the request comes from, this same origin:
`Sec-Fetch-Site: same-origin`, or, from a browser that does not send that header, an
`Origin` naming the Host the request was sent to. Anything else is 403
`cross-site-request`, and nothing is written.
"""

from __future__ import annotations

import re
import secrets

from starlette.requests import HTTPConnection
from starlette.responses import Response

from catalog.api.problems import Problem
from catalog.tokens import GUEST_PREFIX, Principal, digest

GUEST_COOKIE = "tandem_guest"
# A year: a guest's cart and orders outlive a browser restart.
MAX_AGE = 365 * 86400
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def subject_of(secret: str) -> str:
    """The customer a guest secret names."""
    return GUEST_PREFIX + digest(secret)[:32]


def secret(connection: HTTPConnection) -> str | None:
    """The request's guest secret, if it carries one of the form this server issues."""
    raw = connection.cookies.get(GUEST_COOKIE)
    return raw if raw is not None and _SECRET.fullmatch(raw) else None


def welcome(connection: HTTPConnection, response: Response) -> None:
    """Give the browser a guest cookie unless it already has one."""
    if secret(connection) is not None:
        return
    response.set_cookie(
        GUEST_COOKIE,
        new_secret(),
        max_age=MAX_AGE,
        path="/",
        samesite="lax",
        httponly=True,
        secure=connection.url.scheme == "https",
    )


def guest(connection: HTTPConnection, method: str) -> Principal | None:
    """The guest the request's cookie names (None without one); a state-changing
    request must come from this server's own pages."""
    found = secret(connection)
    if found is None:
        return None
    if method not in _SAFE_METHODS:
        same_origin(connection)
    return Principal(subject_of(found), frozenset({"orders"}))


def same_origin(connection: HTTPConnection) -> None:
    """Refuse a request that a page of another site could have made."""
    headers = connection.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        # Set by the browser, never by a script; unlike `Origin` it needs no comparison
        # with a Host header that a proxy in front may have rewritten.
        same = site == "same-origin"
    else:
        origin = headers.get("origin")
        same = origin is None or origin == f"{connection.url.scheme}://{headers.get('host', '')}"
    if not same or not headers.get("x-requested-with"):
        raise Problem(
            403,
            "cross-site-request",
            "Cross-site request",
            "A cart or order change made with the guest cookie must come from this"
            " site's pages (X-Requested-With, same origin).",
        )
