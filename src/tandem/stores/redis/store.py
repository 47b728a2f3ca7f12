"""Projections on Redis: a batch of read-model changes and its checkpoint in one script.

Every key of a projection lives in its own namespace, `{prefix}:{name}:v{version}:`, so
a rebuild of version 2 can fill a fresh namespace beside the live version 1; the
checkpoint is the key `checkpoint` in that namespace. On a Redis Cluster the namespace is
`{prefix}:{{name}:v{version}}:`, whose hash tag keeps the namespace in one hash slot
(`tandem.stores.redis.cluster`).

A batch is applied in three steps:

1. take the checkpoint to start from: read once, or the one this store committed last
   (see `RedisProjectionStore`);
2. fold the events past it through a `RedisTx` (`tandem.stores.redis.buffer`), which
   buffers the writes and answers reads with them applied;
3. one `EVALSHA` of the commit script (`tandem.stores.redis.script`): it refuses with
   `CheckpointMoved` unless the stored checkpoint still equals the one taken in step 1,
   then runs the buffered writes, compacted (`tandem.stores.redis.compaction`), and sets
   the new checkpoint.

>>> store = RedisProjectionStore(redis.asyncio.Redis(), prefix="shop")  # doctest: +SKIP
>>> await store.setup(projection)                                       # doctest: +SKIP
>>> await store.apply(projection, events)                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.errors import ReadModelLost
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.checkpoints import fold_again, fold_past
from tandem.stores.redis.buffer import RedisTx
from tandem.stores.redis.cluster import RedisClient, is_cluster, mget
from tandem.stores.redis.commands import as_bytes
from tandem.stores.redis.errors import CheckpointMoved, KeyTypeConflict
from tandem.stores.redis.script import COMMIT_SCRIPT

CHECKPOINT_KEY = "checkpoint"


def namespace(prefix: str, name: str, version: int, *, tagged: bool = False) -> str:
    """The key prefix of one projection version: `{prefix}:{name}:v{version}:`, or with
    `tagged` (on a Redis Cluster) `{prefix}:{{name}:v{version}}:`, a hash tag that puts
    every key of the version in one hash slot.

    >>> namespace("shop", "product_detail.p3", 2)
    'shop:product_detail.p3:v2:'
    >>> namespace("shop", "product_detail.p3", 2, tagged=True)
    'shop:{product_detail.p3:v2}:'
    """
    if tagged:
        return f"{prefix}:{{{name}:v{version}}}:"
    return f"{prefix}:{name}:v{version}:"


RedisProjection = AsyncProjection[RedisTx]


class RedisProjectionStore:
    """Read models in Redis, one namespace per projection version, fenced checkpoints.

    The client should return bytes (no `decode_responses`); strings are accepted too.
    It may be a single node's or a Redis Cluster's (`tandem.stores.redis.cluster.connect`):
    on a cluster the namespaces carry hash tags (`namespace`).

    A batch starts from the checkpoint this store last read or committed for the
    projection, without reading it again: the commit script compares it with the stored
    one all the same, so if anything moved the checkpoint meanwhile the batch is refused
    (`CheckpointMoved`) exactly as if it had been read at the batch's start, and the
    store reads it afresh for the next batch.
    """

    kind = "redis"

    def __init__(self, client: RedisClient, prefix: str = "tandem") -> None:
        self.client = client
        self.prefix = prefix
        self.tagged = is_cluster(client)
        self._commit = client.register_script(COMMIT_SCRIPT)
        self._known: dict[tuple[str, int], int] = {}

    def namespace(self, projection: RedisProjection) -> str:
        return self.namespace_of(projection.name, projection.version)

    def namespace_of(self, name: str, version: int) -> str:
        return namespace(self.prefix, name, version, tagged=self.tagged)

    def key(self, projection: RedisProjection, relative: str) -> str:
        """The absolute key of a projection's `relative` key, for query code."""
        return self.namespace(projection) + relative

    async def checkpoint(self, projection_name: str, version: int) -> int:
        """The stored checkpoint of one projection version (0 when none)."""
        key = self.namespace_of(projection_name, version) + CHECKPOINT_KEY
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
        """The stored checkpoints of several projection versions in one round trip (on
        a cluster, one MGET per hash slot in one pipeline)."""
        keys = [self.namespace_of(name, version) + CHECKPOINT_KEY for name, version in idents]
        return [0 if raw is None else int(raw) for raw in await mget(self.client, keys)]

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
