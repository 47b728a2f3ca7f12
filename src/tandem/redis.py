"""The Redis backend: a projection store whose batches and checkpoint are one fenced
Lua script (the `redis` extra: redis and hiredis), on one server or a Redis Cluster
(`connect` with a `redis+cluster://host:port` URL)."""

from tandem.extras import require

require("redis", extra="redis", needed_by="tandem.redis")

from tandem.stores.redis import (  # noqa: E402
    CheckpointMoved,
    KeyTypeConflict,
    RedisClient,
    RedisProjectionStore,
    RedisTx,
    connect,
    namespace,
)
from tandem.stores.redis.store import RedisProjection  # noqa: E402

__all__ = [
    "CheckpointMoved",
    "KeyTypeConflict",
    "RedisClient",
    "RedisProjection",
    "RedisProjectionStore",
    "RedisTx",
    "connect",
    "namespace",
]
