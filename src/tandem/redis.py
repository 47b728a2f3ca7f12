"""The Redis backend: a projection store whose batches and checkpoint are one fenced
Lua script (the `redis` extra: redis and hiredis)."""

from tandem.extras import require

require("redis", extra="redis", needed_by="tandem.redis")

from tandem.stores.redis import (  # noqa: E402
    CheckpointMoved,
    KeyTypeConflict,
    RedisProjectionStore,
    RedisTx,
    namespace,
)
from tandem.stores.redis.store import RedisProjection  # noqa: E402

__all__ = [
    "CheckpointMoved",
    "KeyTypeConflict",
    "RedisProjection",
    "RedisProjectionStore",
    "RedisTx",
    "namespace",
]
