"""What every Redis query class shares: the client, the namespace of the projection
version it reads, and the decoding of what redis-py hands back.

Keys are found through the projection's namespace, so a read follows the projection
version it is built for. Reads that need several keys fetch them in one MULTI/EXEC
pipeline: a projection batch commits in one script, so a pipeline sees one point in
time. On a Redis Cluster the namespace is hash-tagged (`tandem.stores.redis.namespace`),
so such a pipeline stays within one hash slot.
"""

from __future__ import annotations

from typing import Any

from tandem.projections.base import AsyncProjection
from tandem.stores.redis import (
    RedisClient,
    RedisTx,
    as_bytes,
    is_cluster,
    namespace,
    optional_bytes,
)


class RedisReads:
    """The client and the namespace of one projection version."""

    projection: type[AsyncProjection[RedisTx]]

    def __init__(
        self,
        client: RedisClient,
        prefix: str = "tandem",
        stored_as: type[AsyncProjection[RedisTx]] | None = None,
    ) -> None:
        # `stored_as`: the copy to read (a generation of `projection`, see
        # `tandem.rebuilds.postgres`); by default the projection's own.
        self._client = client
        self._prefix = prefix
        self._stored = stored_as or self.projection
        self._tagged = is_cluster(client)
        self._namespace = self.namespace_of(self._stored.name)

    def namespace_of(self, name: str) -> str:
        """The namespace of `name` (the stored copy, or one of its partitions)."""
        return namespace(self._prefix, name, self._stored.version, tagged=self._tagged)

    def key(self, relative: str) -> str:
        return self._namespace + relative


def text(value: bytes | str | None) -> str | None:
    """A stored string decoded, None for a missing field."""
    raw = optional_bytes(value)
    return None if raw is None else raw.decode()


def text_hash(raw: dict[Any, Any]) -> dict[str, str]:
    """An HGETALL answer with its fields and values decoded."""
    return {as_bytes(k).decode(): as_bytes(v).decode() for k, v in raw.items()}
