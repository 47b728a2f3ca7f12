"""Idempotency keys: one effect per key, the original answer on every retry."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from tandem.uow.base import CommandResult


def fingerprint(name: str, payload: Mapping[str, Any]) -> str:
    """A stable digest of a request: same command and payload, same fingerprint."""
    body = orjson.dumps(dict(payload), option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(name.encode() + b"\0" + body).hexdigest()


class IdempotencyReplay(Exception):
    """The key was already used; carries the stored fingerprint and answer."""

    def __init__(self, fingerprint: str, result: CommandResult) -> None:
        super().__init__(fingerprint)
        self.fingerprint = fingerprint
        self.result = result


class IdempotencyRace(Exception):
    """Another transaction stored the same key first; the caller re-reads its answer."""
