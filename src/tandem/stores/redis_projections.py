"""Projections on Redis: a batch of read-model changes and its checkpoint in one script.

Every key of a projection lives in its own namespace, `{prefix}:{name}:v{version}:`, so
a rebuild of version 2 can fill a fresh namespace beside the live version 1; the
checkpoint is the key `checkpoint` in that namespace.

A batch is applied in three steps:

1. read the stored checkpoint once;
2. fold the events past it through a `RedisTx`, which buffers writes in order and
   answers reads from Redis overlaid with the writes buffered so far (read-your-writes);
3. one `EVALSHA` of `COMMIT_SCRIPT` (loaded again if the server lost it): it refuses
   with `CheckpointMoved` unless the stored checkpoint still equals the one read in
   step 1, then runs the buffered writes and sets the new checkpoint.

A Lua script runs atomically, so readers see a batch entirely or not at all and a
second writer (a stale runner, a rebuild racing the live one) cannot interleave: the
loser of a race fails the comparison and writes nothing. `WATCH`/`MULTI` would give the
same fence, but needs a connection of its own for the whole read phase; the script
keeps the commit one round trip whatever the batch size.

>>> store = RedisProjectionStore(redis.asyncio.Redis(), prefix="shop")  # doctest: +SKIP
>>> await store.setup(projection)                                       # doctest: +SKIP
>>> await store.apply(projection, events)                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import redis.asyncio

from tandem.errors import TandemError
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.checkpoints import fold_again, fold_past

CHECKPOINT_KEY = "checkpoint"

# Lua 5.1's `unpack` fails past a few thousand values; variadic writes are cut below it.
_MAX_ARGS = 1000

COMMIT_SCRIPT = """
-- KEYS[1]: the checkpoint; KEYS[2..n]: the keys the buffered writes touch.
-- ARGV[1]: checkpoint read before the batch; ARGV[2]: the new checkpoint;
-- ARGV[3..n+1]: expected Redis type of KEYS[2..n] ("any" for keys only deleted);
-- then each write: command, index into KEYS, argument count, arguments.
local stored = redis.call('GET', KEYS[1]) or '0'
if stored ~= ARGV[1] then
  return {0, stored}
end
local n = #KEYS
-- Redis does not roll back a script that fails half way: refuse before any write.
for k = 2, n do
  local want = ARGV[k + 1]
  if want ~= 'any' then
    local have = redis.call('TYPE', KEYS[k])['ok']
    if have ~= 'none' and have ~= want then
      return {-1, KEYS[k], have}
    end
  end
end
local i = n + 2
while i <= #ARGV do
  local command, key, count = ARGV[i], KEYS[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, count do
    args[j] = ARGV[i + 2 + j]
  end
  if command == 'HSETX' then
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, unpack(args))
    end
  else
    redis.call(command, key, unpack(args))
  end
  i = i + 3 + count
end
redis.call('SET', KEYS[1], ARGV[2])
return {1}
"""


class CheckpointMoved(TandemError):
    """Another writer moved the projection's checkpoint during the batch; nothing was written."""

    def __init__(self, projection: str, expected: int, actual: int) -> None:
        super().__init__(
            f"checkpoint of {projection} moved from {expected} to {actual} during the batch"
        )
        self.projection = projection
        self.expected = expected
        self.actual = actual


class KeyTypeConflict(TandemError):
    """A key is used as two Redis types (in one batch, or against what Redis holds)."""


Scalar = bytes | str | int
# Module-level so `RedisTx.set` (the SET command) does not shadow the builtin in annotations.
Members = set[bytes]
T = TypeVar("T")


def namespace(prefix: str, name: str, version: int) -> str:
    """The key prefix of one projection version: `{prefix}:{name}:v{version}:`."""
    return f"{prefix}:{name}:v{version}:"


def as_bytes(value: Scalar) -> bytes:
    """The bytes Redis stores for a value (ints as decimal text, like redis-py sends them)."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(value)).encode()


def optional_bytes(value: bytes | str | None) -> bytes | None:
    """A reply as bytes, whether or not the client decodes responses."""
    return None if value is None else as_bytes(value)


class _Op(NamedTuple):
    command: str
    key: str
    args: tuple[bytes, ...]


def _pairs(args: Sequence[bytes]) -> Iterable[tuple[bytes, bytes]]:
    return zip(args[::2], args[1::2], strict=True)


def _fold_string(value: bytes | None, op: _Op) -> bytes | None:
    return None if op.command == "DEL" else op.args[0]


def _fold_hash(value: dict[bytes, bytes], op: _Op) -> dict[bytes, bytes]:
    command = op.command
    if command == "DEL":
        return {}
    if command == "HSET" or (command == "HSETX" and value):
        value.update(_pairs(op.args))
    elif command == "HDEL":
        for field in op.args:
            value.pop(field, None)
    elif command == "HINCRBY":
        field, amount = op.args
        value[field] = str(int(value.get(field, b"0")) + int(amount)).encode()
    return value


def _fold_set(value: set[bytes], op: _Op) -> set[bytes]:
    if op.command == "DEL":
        return set()
    if op.command == "SADD":
        value.update(op.args)
    elif op.command == "SREM":
        value.difference_update(op.args)
    return value


def _chunks(args: Sequence[bytes], size: int) -> Iterable[tuple[bytes, ...]]:
    for start in range(0, len(args), size):
        yield tuple(args[start : start + size])


class RedisTx:
    """One batch's view of a projection namespace: buffered writes, reads that see them.

    Keys are relative to the namespace. Reads are round trips to Redis (once per key and
    batch) with the writes buffered so far replayed on top; writes go nowhere until the
    store commits the batch in one script call. Sorted sets are write-only here: query
    code reads them, projections only maintain them.
    """

    def __init__(self, client: redis.asyncio.Redis, namespace: str) -> None:
        self._client = client
        self._namespace = namespace
        self._ops: list[_Op] = []
        self._types: dict[str, str] = {}
        self._pending: dict[str, list[_Op]] = {}
        self._strings: dict[str, bytes | None] = {}
        self._hashes: dict[str, dict[bytes, bytes]] = {}
        self._sets: dict[str, Members] = {}

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

    def sadd(self, key: str, *members: Scalar) -> None:
        self._variadic("set", "SADD", key, [as_bytes(m) for m in members], 1)

    def srem(self, key: str, *members: Scalar) -> None:
        self._variadic("set", "SREM", key, [as_bytes(m) for m in members], 1)

    def zadd(self, key: str, mapping: Mapping[str, int]) -> None:
        """Add members with integer scores (write-only: see the class docstring)."""
        args = [as_bytes(x) for member, score in mapping.items() for x in (score, member)]
        self._variadic("zset", "ZADD", key, args, 2)

    def zrem(self, key: str, *members: Scalar) -> None:
        self._variadic("zset", "ZREM", key, [as_bytes(m) for m in members], 1)

    def xadd(self, key: str, fields: Mapping[str, Scalar], *, maxlen: int) -> None:
        """Append an entry to a stream capped near `maxlen` entries (write-only).

        Written by the commit script with the other changes, so readers of the stream
        see exactly the committed changes, in commit order.
        """
        cap = (b"MAXLEN", b"~", as_bytes(maxlen), b"*")
        self._write("stream", "XADD", key, cap + _flatten(fields))

    # -- the commit ----------------------------------------------------------------

    def script_arguments(
        self, checkpoint_key: str, expected: int, new: int
    ) -> tuple[list[str], list[bytes]]:
        """KEYS and ARGV of `COMMIT_SCRIPT` for the buffered writes."""
        index: dict[str, int] = {}
        keys = [checkpoint_key]
        for op in self._ops:
            if op.key not in index:
                keys.append(self.full_key(op.key))
                index[op.key] = len(keys)
        args = [as_bytes(expected), as_bytes(new)]
        args.extend(as_bytes(self._types.get(key, "any")) for key in index)
        for op in self._ops:
            args.extend((as_bytes(op.command), as_bytes(index[op.key]), as_bytes(len(op.args))))
            args.extend(op.args)
        return keys, args

    # -- internals -----------------------------------------------------------------

    def _claim(self, key: str, kind: str | None) -> None:
        if kind is None:
            return
        have = self._types.setdefault(key, kind)
        if have != kind:
            raise KeyTypeConflict(f"{self.full_key(key)} is used as a {have} and a {kind}")

    def _replay(self, key: str, base: T, fold: Callable[[T, _Op], T]) -> T:
        for op in self._pending.pop(key, []):
            base = fold(base, op)
        return base

    def _variadic(
        self, kind: str, command: str, key: str, args: Sequence[bytes], unit: int
    ) -> None:
        # Cut at a multiple of `unit` so field/value and score/member pairs stay whole.
        for chunk in _chunks(args, _MAX_ARGS - _MAX_ARGS % unit):
            self._write(kind, command, key, chunk)

    def _write(self, kind: str | None, command: str, key: str, args: tuple[bytes, ...]) -> None:
        self.full_key(key)
        self._claim(key, kind)
        op = _Op(command, key, args)
        self._ops.append(op)
        if key in self._strings:
            self._strings[key] = _fold_string(self._strings[key], op)
        elif key in self._hashes:
            self._hashes[key] = _fold_hash(self._hashes[key], op)
        elif key in self._sets:
            self._sets[key] = _fold_set(self._sets[key], op)
        else:
            self._pending.setdefault(key, []).append(op)


def _flatten(mapping: Mapping[str, Scalar]) -> tuple[bytes, ...]:
    return tuple(as_bytes(x) for field, value in mapping.items() for x in (field, value))


RedisProjection = AsyncProjection[RedisTx]


class RedisProjectionStore:
    """Read models in Redis, one namespace per projection version, fenced checkpoints.

    The client should return bytes (no `decode_responses`); strings are accepted too.
    """

    kind = "redis"

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "tandem") -> None:
        self.client = client
        self.prefix = prefix
        self._commit = client.register_script(COMMIT_SCRIPT)

    def namespace(self, projection: RedisProjection) -> str:
        return namespace(self.prefix, projection.name, projection.version)

    def key(self, projection: RedisProjection, relative: str) -> str:
        """The absolute key of a projection's `relative` key, for query code."""
        return self.namespace(projection) + relative

    async def checkpoint(self, projection_name: str, version: int) -> int:
        """The stored checkpoint of one projection version (0 when none)."""
        key = namespace(self.prefix, projection_name, version) + CHECKPOINT_KEY
        raw = await self.client.get(key)
        return 0 if raw is None else int(raw)

    async def setup(self, projection: RedisProjection) -> int:
        """Let the projection write its initial keys, if any; returns the checkpoint."""
        checkpoint = await self.checkpoint(projection.name, projection.version)
        tx = RedisTx(self.client, self.namespace(projection))
        await projection.setup(tx)
        if tx.writes:
            await self._commit_batch(projection, tx, checkpoint, checkpoint)
        return checkpoint

    async def apply(self, projection: RedisProjection, events: list[StoredEvent]) -> int:
        """Apply the events past the stored checkpoint in one script call; returns it.

        Raises `CheckpointMoved`, having written nothing, if another writer moved the
        checkpoint while this batch was being folded.
        """
        checkpoint = await self.checkpoint(projection.name, projection.version)
        tx = RedisTx(self.client, self.namespace(projection))
        last = await fold_past(tx, projection, events, checkpoint)
        if last > checkpoint:
            await self._commit_batch(projection, tx, checkpoint, last)
        return last

    async def apply_parked(self, projection: RedisProjection, events: list[StoredEvent]) -> None:
        """Apply parked events again in one script call, fenced like a batch (refused
        with `CheckpointMoved` if the runner commits meanwhile); the checkpoint stays."""
        checkpoint = await self.checkpoint(projection.name, projection.version)
        tx = RedisTx(self.client, self.namespace(projection))
        await fold_again(tx, projection, events)
        if tx.writes:
            await self._commit_batch(projection, tx, checkpoint, checkpoint)

    async def _commit_batch(
        self, projection: RedisProjection, tx: RedisTx, expected: int, new: int
    ) -> None:
        checkpoint_key = self.key(projection, CHECKPOINT_KEY)
        keys, args = tx.script_arguments(checkpoint_key, expected, new)
        reply = await self._commit(keys=keys, args=args)
        status = int(reply[0])
        if status == 0:
            raise CheckpointMoved(projection.name, expected, int(reply[1]))
        if status < 0:
            key, have = (as_bytes(x).decode() for x in reply[1:3])
            raise KeyTypeConflict(f"{key} holds a {have}; the batch was not written")
