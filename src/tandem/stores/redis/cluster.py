"""Redis Cluster: the client a URL asks for, and reads that span hash slots.

A URL with the scheme `redis+cluster://host:port` (any one node; `rediss+cluster://`
for TLS) opens redis-py's cluster client (`redis.asyncio.cluster.RedisCluster`), which
learns the topology from that node and follows slot moves and failovers; any other
Redis URL opens a single-node client, as before.

On a cluster a Lua script, a MULTI and an MGET may only touch keys of one hash slot. A
projection's namespace carries a hash tag there (`namespace(..., tagged=True)`:
`{prefix}:{name:v{version}}:`), so all of one projection part's keys, its checkpoint
included, share one slot: a batch's commit script, a read with its checkpoint and a
MULTI of one read model stay within a slot. Reads that span parts (the checkpoints of
every partition) are grouped by slot (`mget`), one MGET per slot in one pipeline.

>>> cluster_url("redis+cluster://10.0.0.5:7000")
'redis://10.0.0.5:7000'
>>> cluster_url("redis://127.0.0.1:6379/0") is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import redis.asyncio
from redis.asyncio.cluster import RedisCluster

RedisClient: TypeAlias = redis.asyncio.Redis | RedisCluster

# URL schemes that name a Redis Cluster, and the plain scheme redis-py takes for each.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The URL redis-py's cluster client takes for a cluster URL; None for any other."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    return None if plain is None else f"{plain}://{rest}"


def connect(url: str, **options: Any) -> RedisClient:
    """A client for `url`: a cluster client for a `redis+cluster://` URL, else one node."""
    plain = cluster_url(url)
    if plain is None:
        return redis.asyncio.Redis.from_url(url, **options)
    return RedisCluster.from_url(plain, **options)


def is_cluster(client: RedisClient) -> bool:
    """Whether `client` talks to a Redis Cluster (keys then need hash tags)."""
    return isinstance(client, RedisCluster)


async def mget(client: RedisClient, keys: Sequence[str]) -> list[Any]:
    """The values at `keys`, in order; on a cluster one MGET per hash slot, pipelined
    (atomic within each slot, not across slots)."""
    if not keys:
        return []
    if isinstance(client, RedisCluster):
        return list(await client.mget_nonatomic(list(keys)))
    return list(await client.mget(list(keys)))
