"""The batch buffer: a projection's writes held in order, with reads that see them.

A projection folds a batch's events through a `RedisTx`, which buffers writes in order
and answers reads from Redis overlaid with the writes buffered so far (read-your-writes).
A projection with `apply_batch` (`tandem.projections.checkpoints.BatchApplying`) gets
the batch's events in one call, typically to read every key they need in one round trip
(`RedisTx.prefetch`) before folding them. Nothing is written until the store commits the
buffered writes, compacted (`tandem.stores.redis.compaction`), in one call of the commit
script (`tandem.stores.redis.script`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from tandem.stores.redis.cluster import RedisClient
from tandem.stores.redis.commands import (
    MAX_ARGS,
    Op,
    Scalar,
    as_bytes,
    chunks,
    optional_bytes,
    pairs,
)
from tandem.stores.redis.compaction import compact
from tandem.stores.redis.errors import KeyTypeConflict
from tandem.stores.redis.script import TYPE_CODES, encode_writes

# Module-level so `RedisTx.set` (the SET command) does not shadow the builtin in annotations.
Members = set[bytes]
T = TypeVar("T")


def _fold_string(value: bytes | None, op: Op) -> bytes | None:
    return None if op.command == "DEL" else op.args[0]


def _fold_hash(value: dict[bytes, bytes], op: Op) -> dict[bytes, bytes]:
    command = op.command
    if command == "DEL":
        return {}
    if command == "HSET" or (command == "HSETX" and value):
        value.update(pairs(op.args))
    elif command == "HDEL":
        for field in op.args:
            value.pop(field, None)
    elif command == "HINCRBY":
        for field, amount in pairs(op.args):
            value[field] = str(int(value.get(field, b"0")) + int(amount)).encode()
    return value


def _fold_set(value: set[bytes], op: Op) -> set[bytes]:
    if op.command == "DEL":
        return set()
    if op.command == "SADD":
        value.update(op.args)
    elif op.command == "SREM":
        value.difference_update(op.args)
    return value


class RedisTx:
    """One batch's view of a projection namespace: buffered writes, reads that see them.

    Keys are relative to the namespace. Reads are round trips to Redis (once per key and
    batch, or one for many keys with `prefetch`) with the writes buffered so far
    replayed on top; writes go nowhere until the store commits the batch in one script
    call. Sorted sets and streams are write-only here: query code reads them,
    projections only maintain them.

    `memo` is the projection's own scratch space for the batch (decoded values it would
    otherwise decode again for every event), dropped with the batch; a projection keeps
    an entry in step with the key it was derived from, or drops it when it writes that
    key.
    """

    def __init__(self, client: RedisClient, namespace: str) -> None:
        self._client = client
        self._namespace = namespace
        self._ops: list[Op] = []
        self._types: dict[str, str] = {}
        self._pending: dict[str, list[Op]] = {}
        self._strings: dict[str, bytes | None] = {}
        self._hashes: dict[str, dict[bytes, bytes]] = {}
        self._sets: dict[str, Members] = {}
        self.memo: dict[str, Any] = {}

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def writes(self) -> int:
        """How many write commands the batch has buffered."""
        return len(self._ops)

    def full_key(self, key: str) -> str:
        """The absolute Redis key of a namespace-relative key."""
        if not key:
            raise ValueError("a key must not be empty")
        return self._namespace + key

    # -- reads -------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """The string at `key`, or None."""
        self._claim(key, "string")
        if key not in self._strings:
            base = optional_bytes(await self._client.get(self.full_key(key)))
            self._strings[key] = self._replay(key, base, _fold_string)
        return self._strings[key]

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """The strings at `keys` (None where missing), in one round trip for those unread."""
        unread = list(dict.fromkeys(k for k in keys if k not in self._strings))
        for key in unread:
            self._claim(key, "string")
        if unread:
            values = await self._client.mget([self.full_key(k) for k in unread])
            for key, raw in zip(unread, values, strict=True):
                self._strings[key] = self._replay(key, optional_bytes(raw), _fold_string)
        return [self._strings[k] for k in keys]

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        """A copy of the hash at `key` ({} when missing)."""
        self._claim(key, "hash")
        if key not in self._hashes:
            raw = await self._client.hgetall(self.full_key(key))
            base = {as_bytes(f): as_bytes(v) for f, v in raw.items()}
            self._hashes[key] = self._replay(key, base, _fold_hash)
        return dict(self._hashes[key])

    async def smembers(self, key: str) -> Members:
        """A copy of the set at `key` (empty when missing)."""
        self._claim(key, "set")
        if key not in self._sets:
            raw = await self._client.smembers(self.full_key(key))
            self._sets[key] = self._replay(key, {as_bytes(m) for m in raw}, _fold_set)
        return set(self._sets[key])

    async def prefetch(
        self,
        *,
        strings: Iterable[str] = (),
        hashes: Iterable[str] = (),
        sets: Iterable[str] = (),
    ) -> None:
        """Read keys the batch is about to need, all in one round trip (a pipeline).

        Later `get`, `mget`, `hgetall` and `smembers` of these keys are answered from
        memory, exactly as if each had been read then: nothing else writes the namespace
        before the commit, or the commit's checkpoint comparison refuses the batch.
        Keys already read are left as they are.
        """
        unread_strings = [k for k in dict.fromkeys(strings) if k not in self._strings]
        unread_hashes = [k for k in dict.fromkeys(hashes) if k not in self._hashes]
        unread_sets = [k for k in dict.fromkeys(sets) if k not in self._sets]
        for keys, kind in (
            (unread_strings, "string"),
            (unread_hashes, "hash"),
            (unread_sets, "set"),
        ):
            for key in keys:
                self._claim(key, kind)
        if not (unread_strings or unread_hashes or unread_sets):
            return
        async with self._client.pipeline(transaction=False) as pipe:
            if unread_strings:
                # By name: a cluster pipeline refuses `mget` (keys of one namespace
                # share a hash slot, so the MGET is fine there).
                pipe.execute_command("MGET", *[self.full_key(k) for k in unread_strings])
            for key in unread_hashes:
                pipe.hgetall(self.full_key(key))
            for key in unread_sets:
                pipe.smembers(self.full_key(key))
            replies = list(await pipe.execute())
        if unread_strings:
            values = replies.pop(0)
            for key, raw in zip(unread_strings, values, strict=True):
                self._strings[key] = self._replay(key, optional_bytes(raw), _fold_string)
        hashes_read, sets_read = replies[: len(unread_hashes)], replies[len(unread_hashes) :]
        for key, raw_hash in zip(unread_hashes, hashes_read, strict=True):
            base = {as_bytes(f): as_bytes(v) for f, v in raw_hash.items()}
            self._hashes[key] = self._replay(key, base, _fold_hash)
        for key, raw_set in zip(unread_sets, sets_read, strict=True):
            self._sets[key] = self._replay(key, {as_bytes(m) for m in raw_set}, _fold_set)

    # -- writes ------------------------------------------------------------------

    def set(self, key: str, value: Scalar) -> None:
        self._write("string", "SET", key, (as_bytes(value),))

    def delete(self, key: str) -> None:
        """Delete the key, whatever its type."""
        self._write(None, "DEL", key, ())

    def hset(self, key: str, mapping: Mapping[str, Scalar]) -> None:
        self._variadic("hash", "HSET", key, _flatten(mapping), 2)

    def hset_existing(self, key: str, mapping: Mapping[str, Scalar]) -> None:
        """HSET only if the hash exists: SQL's `UPDATE … WHERE id = ?`, with no read."""
        if mapping:
            self._write("hash", "HSETX", key, _flatten(mapping))

    def hdel(self, key: str, *fields: str) -> None:
        self._variadic("hash", "HDEL", key, [as_bytes(f) for f in fields], 1)

    def hincrby(self, key: str, field: str, amount: int) -> None:
        if amount:
            self._write("hash", "HINCRBY", key, (as_bytes(field), as_bytes(amount)))

    def hincrby_each(self, key: str, amounts: Mapping[str, int]) -> None:
        """HINCRBY of every field in `amounts`, even by 0 (which creates a missing field
        and hash, as HINCRBY does)."""
        args = _flatten(amounts)
        if args:
            self._write("hash", "HINCRBY", key, args)

    def sadd(self, key: str, *members: Scalar) -> None:
        self._variadic("set", "SADD", key, [as_bytes(m) for m in members], 1)

    def srem(self, key: str, *members: Scalar) -> None:
        self._variadic("set", "SREM", key, [as_bytes(m) for m in members], 1)

    def zadd(self, key: str, mapping: Mapping[str, int]) -> None:
        """Add members with integer scores (write-only: see the class docstring)."""
        args = [x for member, score in mapping.items() for x in (as_bytes(score), as_bytes(member))]
        self._variadic("zset", "ZADD", key, args, 2)

    def zrem(self, key: str, *members: Scalar) -> None:
        self._variadic("zset", "ZREM", key, [as_bytes(m) for m in members], 1)

    def xadd(self, key: str, fields: Mapping[str, Scalar], *, maxlen: int) -> None:
        """Append an entry to a stream capped near `maxlen` entries (write-only).

        Written by the commit script with the other changes, so readers of the stream
        see exactly the committed changes, in commit order.
        """
        self._write("stream", "XADD", key, (*_cap(maxlen), *_flatten(fields)))

    # -- the commit ----------------------------------------------------------------

    def script_arguments(
        self, checkpoint_key: str, expected: int, new: int
    ) -> tuple[list[str], list[bytes]]:
        """KEYS and ARGV of `COMMIT_SCRIPT` for the buffered writes."""
        index: dict[str, int] = {}
        keys = [checkpoint_key]
        ops = compact(self._ops)
        for op in ops:
            if op.key not in index:
                keys.append(self.full_key(op.key))
                index[op.key] = len(keys)
        types = "".join(TYPE_CODES.get(self._types.get(key, ""), "-") for key in index)
        args = [as_bytes(expected), as_bytes(new), types.encode(), encode_writes(ops, index)]
        return keys, args

    # -- internals -----------------------------------------------------------------

    def _claim(self, key: str, kind: str | None) -> None:
        if kind is None:
            return
        have = self._types.setdefault(key, kind)
        if have != kind:
            raise KeyTypeConflict(f"{self.full_key(key)} is used as a {have} and a {kind}")

    def _replay(self, key: str, base: T, fold: Callable[[T, Op], T]) -> T:
        for op in self._pending.pop(key, []):
            base = fold(base, op)
        return base

    def _variadic(
        self, kind: str, command: str, key: str, args: Sequence[bytes], unit: int
    ) -> None:
        if len(args) <= MAX_ARGS:
            if args:
                self._write(kind, command, key, tuple(args))
            return
        # Cut at a multiple of `unit` so field/value and score/member pairs stay whole.
        for chunk in chunks(args, MAX_ARGS - MAX_ARGS % unit):
            self._write(kind, command, key, chunk)

    def _write(self, kind: str | None, command: str, key: str, args: tuple[bytes, ...]) -> None:
        if not key:
            raise ValueError("a key must not be empty")
        if kind is not None:
            have = self._types.setdefault(key, kind)
            if have != kind:
                raise KeyTypeConflict(f"{self.full_key(key)} is used as a {have} and a {kind}")
        op = _op(Op, (command, key, args))
        self._ops.append(op)
        if key in self._strings:
            self._strings[key] = _fold_string(self._strings[key], op)
        elif key in self._hashes:
            self._hashes[key] = _fold_hash(self._hashes[key], op)
        elif key in self._sets:
            self._sets[key] = _fold_set(self._sets[key], op)
        elif kind not in _WRITE_ONLY:
            # Not read yet: replayed over what Redis holds if the batch reads it later.
            self._pending.setdefault(key, []).append(op)


# Types the batch never reads back (see `RedisTx`): their writes need no replay.
_WRITE_ONLY = frozenset({"zset", "stream"})


# An `Op` without the Python-level `__new__` of a named tuple: one per buffered write.
_op = tuple.__new__


def _flatten(mapping: Mapping[str, Scalar]) -> tuple[bytes, ...]:
    args: list[bytes] = []
    append = args.append
    for field, value in mapping.items():
        append(_field(field) if type(field) is str else as_bytes(field))
        append(value if type(value) is bytes else as_bytes(value))
    return tuple(args)


@functools.lru_cache(maxsize=4096)
def _field(name: str) -> bytes:
    """A field name's bytes: a batch writes the same few names over and over."""
    return name.encode()


@functools.cache
def _cap(maxlen: int) -> tuple[bytes, ...]:
    """XADD's arguments for a stream capped near `maxlen` entries, with a new entry id."""
    return (b"MAXLEN", b"~", as_bytes(maxlen), b"*")
