"""Search cursors: the opaque token that resumes a search after the last row of a page.

A cursor carries the sort, the sort key of the page's last row (keyset pagination: the
next page seeks past that key instead of skipping rows with OFFSET) and a digest of the
search's filters, so it resumes only the search that issued it. Every backend issues and
reads the same cursors, so a page fetched from one store can be continued on another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from catalog.domain.errors import InvalidInput

MAX_CURSOR_CHARS = 512
_INT64 = 2**63
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def _checksum(body: dict[str, Any]) -> str:
    # Not a secret: it catches altered or truncated cursors. Forging one only moves the
    # keyset position of a search the caller may run anyway.
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=12, person=b"tandem-cursor").hexdigest()


def encode_cursor(sort: str, keys: tuple[Any, ...], digest: str) -> str:
    """An opaque, url-safe cursor resuming after `keys` in a search with this digest."""
    body: dict[str, Any] = {"s": sort, "k": list(keys), "f": digest}
    body["c"] = _checksum(body)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _valid_key(value: Any, kind: type) -> bool:
    # Keys are bound as SQL parameters: integers must fit 64 bits, floats be finite.
    if kind is int:
        return type(value) is int and -_INT64 <= value < _INT64
    if kind is float:
        return type(value) in (int, float) and abs(value) < float("inf")
    return type(value) is str and len(value) <= 200


def decode_cursor(cursor: str, sort: str, types: tuple[type, ...], digest: str) -> tuple[Any, ...]:
    """The sort key (of these `types`) a cursor resumes after; InvalidInput unless it
    fits this search."""
    foreign = InvalidInput("cursor", "is not a cursor this service issued")
    if len(cursor) > MAX_CURSOR_CHARS or not _CURSOR_CHARS.fullmatch(cursor):
        raise foreign
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise foreign from exc
    if not isinstance(body, dict) or set(body) != {"s", "k", "f", "c"}:
        raise foreign
    check = body.pop("c")
    if not isinstance(check, str) or not hmac.compare_digest(check, _checksum(body)):
        raise InvalidInput("cursor", "was altered")
    if body["s"] != sort or body["f"] != digest:
        raise InvalidInput("cursor", "belongs to a search with other filters or sort")
    keys = body["k"]
    if (
        not isinstance(keys, list)
        or len(keys) != len(types)
        or not all(_valid_key(v, t) for v, t in zip(keys, types, strict=True))
    ):
        raise foreign
    return tuple(float(v) if t is float else v for v, t in zip(keys, types, strict=True))
