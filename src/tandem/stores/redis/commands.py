"""A buffered Redis write command and the byte forms of its arguments.

The batch buffer (`tandem.stores.redis.buffer`), the compaction of its writes
(`tandem.stores.redis.compaction`) and their encoding for the commit script
(`tandem.stores.redis.script`) all speak in `Op`s whose arguments are already the bytes
Redis will store, so the three agree on what a write is without converting it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

# Lua 5.1's `unpack` fails past a few thousand values; variadic writes are cut below it.
MAX_ARGS = 1000

Scalar = bytes | str | int


def as_bytes(value: Scalar) -> bytes:
    """The bytes Redis stores for a value (ints as decimal text, like redis-py sends them)."""
    # Exact types first: a batch converts every field and value of its writes.
    kind = type(value)
    if kind is bytes:
        return value  # type: ignore[return-value]
    if kind is str:
        return value.encode()  # type: ignore[union-attr]
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


def optional_bytes(value: bytes | str | None) -> bytes | None:
    """A reply as bytes, whether or not the client decodes responses."""
    return None if value is None else as_bytes(value)


class Op(NamedTuple):
    """One write command on one namespace-relative key."""

    command: str
    key: str
    args: tuple[bytes, ...]


def pairs(args: Sequence[bytes]) -> Iterable[tuple[bytes, bytes]]:
    """Field/value (or score/member) arguments two by two."""
    return zip(args[::2], args[1::2], strict=True)


def chunks(args: Sequence[bytes], size: int) -> Iterable[tuple[bytes, ...]]:
    """`args` cut into runs of at most `size`, so no command exceeds `MAX_ARGS`."""
    for start in range(0, len(args), size):
        yield tuple(args[start : start + size])
