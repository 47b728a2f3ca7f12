"""Projections on Redis: a batch of read-model changes and its checkpoint in one script.

Every key of a projection lives in its own namespace, `{prefix}:{name}:v{version}:`, so
a rebuild of version 2 can fill a fresh namespace beside the live version 1; the
checkpoint is the key `checkpoint` in that namespace.

A batch is applied in three steps:

1. take the checkpoint to start from: read once, or the one this store committed last
   (see `RedisProjectionStore`);
2. fold the events past it through a `RedisTx`, which buffers writes in order and
   answers reads from Redis overlaid with the writes buffered so far (read-your-writes).
   A projection with `apply_batch` (`tandem.projections.checkpoints.BatchApplying`)
   gets the batch's events in one call, typically to read every key they need in one
   round trip (`RedisTx.prefetch`) before folding them;
3. one `EVALSHA` of `COMMIT_SCRIPT` (loaded again if the server lost it): it refuses
   with `CheckpointMoved` unless the stored checkpoint still equals the one taken in
   step 1, then runs the buffered writes and sets the new checkpoint. The writes are
   sent compacted (`compact`): each command touches one key, so only the order of a
   key's own writes matters, and a key's run of writes collapses to fewer commands with
   the same result (the last SET of a string, one HINCRBY per field, the final score of
   each sorted-set member), so a batch of many events on few keys stays a small script;
   and they travel as one argument (`encode_writes`), not one per word.

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

import functools
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import redis.asyncio

from tandem.errors import ReadModelLost, TandemError
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.checkpoints import fold_again, fold_past

CHECKPOINT_KEY = "checkpoint"

# Lua 5.1's `unpack` fails past a few thousand values; variadic writes are cut below it.
_MAX_ARGS = 1000

COMMIT_SCRIPT = """
-- KEYS[1]: the checkpoint; KEYS[2..n]: the keys the buffered writes touch.
-- ARGV[1]: checkpoint read before the batch; ARGV[2]: the new checkpoint;
-- ARGV[3]: one letter per key of KEYS[2..n], its expected Redis type (see TYPE_CODES;
--   '-' for keys that are only deleted);
-- ARGV[4]: the writes, one after another: command, index into KEYS, argument count,
--   arguments; strings as a 4-byte big-endian length then the bytes, numbers as
--   4-byte big-endian integers (see `encode_writes`).
local stored = redis.call('GET', KEYS[1]) or '0'
if stored ~= ARGV[1] then
  return {0, stored}
end
local types = {s = 'string', h = 'hash', S = 'set', z = 'zset', x = 'stream'}
local wanted = ARGV[3]
-- Redis does not roll back a script that fails half way: refuse before any write.
for k = 2, #KEYS do
  local want = types[string.sub(wanted, k - 1, k - 1)]
  if want then
    local have = redis.call('TYPE', KEYS[k])['ok']
    if have ~= 'none' and have ~= want then
      return {-1, KEYS[k], have}
    end
  end
end
local writes = ARGV[4]
local size = #writes
local pos = 1
local formats = {}
while pos <= size do
  local command, index, count
  command, index, count, pos = struct.unpack('>I4c0I4I4', writes, pos)
  local format = formats[count]
  if not format then
    format = '>' .. string.rep('I4c0', count)
    formats[count] = format
  end
  local args = {struct.unpack(format, writes, pos)}
  pos = args[count + 1]
  local key = KEYS[index]
  if command == 'HSETX' then
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, unpack(args, 1, count))
    end
  else
    redis.call(command, key, unpack(args, 1, count))
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return {1}
"""

# The letters of ARGV[3] in COMMIT_SCRIPT: the Redis type a batch expects of each key.
TYPE_CODES = {"string": "s", "hash": "h", "set": "S", "zset": "z", "stream": "x"}


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
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


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
        for field, amount in _pairs(op.args):
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
    batch, or one for many keys with `prefetch`) with the writes buffered so far
    replayed on top; writes go nowhere until the store commits the batch in one script
    call. Sorted sets and streams are write-only here: query code reads them,
    projections only maintain them.

    `memo` is the projection's own scratch space for the batch (decoded values it would
    otherwise decode again for every event), dropped with the batch; a projection keeps
    an entry in step with the key it was derived from, or drops it when it writes that
    key.
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
                pipe.mget([self.full_key(k) for k in unread_strings])
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
        args = tuple(x for f, n in amounts.items() for x in (as_bytes(f), as_bytes(n)))
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

    def _replay(self, key: str, base: T, fold: Callable[[T, _Op], T]) -> T:
        for op in self._pending.pop(key, []):
            base = fold(base, op)
        return base

    def _variadic(
        self, kind: str, command: str, key: str, args: Sequence[bytes], unit: int
    ) -> None:
        if len(args) <= _MAX_ARGS:
            if args:
                self._write(kind, command, key, tuple(args))
            return
        # Cut at a multiple of `unit` so field/value and score/member pairs stay whole.
        for chunk in _chunks(args, _MAX_ARGS - _MAX_ARGS % unit):
            self._write(kind, command, key, chunk)

    def _write(self, kind: str | None, command: str, key: str, args: tuple[bytes, ...]) -> None:
        if not key:
            raise ValueError("a key must not be empty")
        if kind is not None:
            self._claim(key, kind)
        op = _Op(command, key, args)
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


def _flatten(mapping: Mapping[str, Scalar]) -> tuple[bytes, ...]:
    return tuple(x for field, value in mapping.items() for x in (as_bytes(field), as_bytes(value)))


@functools.cache
def _cap(maxlen: int) -> tuple[bytes, ...]:
    """XADD's arguments for a stream capped near `maxlen` entries, with a new entry id."""
    return (b"MAXLEN", b"~", as_bytes(maxlen), b"*")


# Runs of these commands on one key merge into fewer commands (see `compact`).
_FAMILIES = {
    "HSET": "HSET",
    "HINCRBY": "HINCRBY",
    "SADD": "SET",
    "SREM": "SET",
    "ZADD": "ZSET",
    "ZREM": "ZSET",
}


def compact(ops: Sequence[_Op]) -> list[_Op]:
    """Writes with the same effect as `ops`, usually far fewer.

    Every command here touches exactly one key, so writes to different keys commute and
    only each key's own order matters. Per key: a SET or DEL replaces whatever came
    before it; then each run of consecutive writes of one family merges: HSETs into one
    mapping (the last value of a field wins), HINCRBYs into one per field (the sum,
    sent even when it is 0, since HINCRBY by 0 still creates the field), SADD/SREM and
    ZADD/ZREM into each member's last word (members removed, then members added with
    their final score). HSETX, HDEL and XADD are kept as they are.
    """
    by_key: dict[str, list[_Op]] = {}
    for op in ops:
        if op.command in ("SET", "DEL"):
            by_key[op.key] = [op]
        else:
            by_key.setdefault(op.key, []).append(op)
    out: list[_Op] = []
    for key, key_ops in by_key.items():
        run: list[_Op] = []
        for op in key_ops:
            family = _FAMILIES.get(op.command)
            if run and (family is None or _FAMILIES[run[0].command] != family):
                out.extend(_merge(key, run))
                run = []
            if family is None:
                out.append(op)
            else:
                run.append(op)
        if run:
            out.extend(_merge(key, run))
    return out


def _merge(key: str, run: list[_Op]) -> list[_Op]:
    """One family's consecutive writes to `key`, merged (an HINCRBY of several fields
    always becomes one command per field, as Redis takes them)."""
    family = _FAMILIES[run[0].command]
    if family == "HINCRBY":
        sums: dict[bytes, int] = {}
        for op in run:
            for field, amount in _pairs(op.args):
                sums[field] = sums.get(field, 0) + int(amount)
        return [_Op("HINCRBY", key, (f, as_bytes(n))) for f, n in sums.items()]
    if len(run) == 1:
        return run
    if family == "HSET":
        fields: dict[bytes, bytes] = {}
        for op in run:
            fields.update(_pairs(op.args))
        flat = [x for pair in fields.items() for x in pair]
        return [_Op("HSET", key, chunk) for chunk in _chunks(flat, _MAX_ARGS)]
    # Sets and sorted sets: the last add or remove of each member decides.
    last: dict[bytes, bytes | None] = {}
    for op in run:
        if op.command == "ZADD":
            for score, member in _pairs(op.args):
                last[member] = score
        elif op.command == "SADD":
            for member in op.args:
                last[member] = b""
        else:
            for member in op.args:
                last[member] = None
    removed = [m for m, score in last.items() if score is None]
    if family == "SET":
        added = [m for m, score in last.items() if score is not None]
        remove, add, unit = "SREM", "SADD", 1
    else:
        added = [x for m, score in last.items() if score is not None for x in (score, m)]
        remove, add, unit = "ZREM", "ZADD", 2
    merged = [_Op(remove, key, chunk) for chunk in _chunks(removed, _MAX_ARGS)]
    merged += [_Op(add, key, chunk) for chunk in _chunks(added, _MAX_ARGS - _MAX_ARGS % unit)]
    return merged


_HEADER = struct.Struct(">II")
_LENGTH = struct.Struct(">I")


def encode_writes(ops: Iterable[_Op], index: Mapping[str, int]) -> bytes:
    """ARGV[4] of `COMMIT_SCRIPT`: the writes as one string, so a batch of thousands of
    writes is a handful of script arguments, not one per word of every command."""
    parts: list[bytes] = []
    append = parts.append
    length = _LENGTH.pack
    for op in ops:
        command = op.command.encode()
        append(length(len(command)))
        append(command)
        append(_HEADER.pack(index[op.key], len(op.args)))
        for arg in op.args:
            append(length(len(arg)))
            append(arg)
    return b"".join(parts)


RedisProjection = AsyncProjection[RedisTx]


class RedisProjectionStore:
    """Read models in Redis, one namespace per projection version, fenced checkpoints.

    The client should return bytes (no `decode_responses`); strings are accepted too.

    A batch starts from the checkpoint this store last read or committed for the
    projection, without reading it again: the commit script compares it with the stored
    one all the same, so if anything moved the checkpoint meanwhile the batch is refused
    (`CheckpointMoved`) exactly as if it had been read at the batch's start, and the
    store reads it afresh for the next batch.
    """

    kind = "redis"

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "tandem") -> None:
        self.client = client
        self.prefix = prefix
        self._commit = client.register_script(COMMIT_SCRIPT)
        self._known: dict[tuple[str, int], int] = {}

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
        ident = (projection.name, projection.version)
        self._known.pop(ident, None)
        checkpoint = await self.checkpoint(*ident)
        tx = RedisTx(self.client, self.namespace(projection))
        await projection.setup(tx)
        if tx.writes:
            await self._commit_batch(projection, tx, checkpoint, checkpoint)
        self._known[ident] = checkpoint
        return checkpoint

    async def apply(self, projection: RedisProjection, events: list[StoredEvent]) -> int:
        """Apply the events past the stored checkpoint in one script call; returns it.

        Raises `CheckpointMoved`, having written nothing, if another writer moved the
        checkpoint while this batch was being folded.
        """
        ident = (projection.name, projection.version)
        checkpoint = self._known.get(ident)
        if checkpoint is None:
            checkpoint = await self.checkpoint(*ident)
        tx = RedisTx(self.client, self.namespace(projection))
        last = await fold_past(tx, projection, events, checkpoint)
        if last > checkpoint:
            try:
                await self._commit_batch(projection, tx, checkpoint, last)
            except CheckpointMoved as moved:
                # Kept otherwise: after a failed round trip the next batch is fenced
                # against what this store last saw, so a store that lost writes is noticed.
                self._known.pop(ident, None)
                if moved.actual < moved.expected:
                    raise ReadModelLost(projection.name, moved.expected, moved.actual) from moved
                raise
        self._known[ident] = last
        return last

    async def verify(self, projection: RedisProjection) -> None:
        """Raise `ReadModelLost` if the stored checkpoint went back behind the one this
        store last read or committed (Redis wiped, or restarted without its last
        writes); an idle runner asks now and then, since no commit would notice."""
        ident = (projection.name, projection.version)
        known = self._known.get(ident)
        if known is None:
            return
        stored = await self.checkpoint(*ident)
        if stored < known:
            self._known.pop(ident, None)
            raise ReadModelLost(projection.name, known, stored)

    async def checkpoints(self, idents: Sequence[tuple[str, int]]) -> list[int]:
        """The stored checkpoints of several projection versions in one round trip."""
        if not idents:
            return []
        keys = [namespace(self.prefix, name, version) + CHECKPOINT_KEY for name, version in idents]
        return [0 if raw is None else int(raw) for raw in await self.client.mget(keys)]

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
