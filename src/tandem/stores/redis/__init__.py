"""Projections on Redis, one concept a module.

- `store`: `RedisProjectionStore`, one namespace per projection version and a fenced
  checkpoint; how a batch is applied;
- `buffer`: `RedisTx`, a batch's buffered writes and the reads that see them;
- `compaction`: a batch's writes collapsed to fewer commands with the same result;
- `script`: the Lua commit script, atomic and fenced by the checkpoint, and the writes'
  encoding for it;
- `cluster`: the client a URL asks for (one node or a Redis Cluster), reads across
  hash slots;
- `commands`: one buffered write and the byte forms of values;
- `errors`: why a batch was refused.

The names importers use are re-exported here.
"""

from tandem.stores.redis.buffer import RedisTx
from tandem.stores.redis.cluster import RedisClient, connect, is_cluster
from tandem.stores.redis.commands import as_bytes, optional_bytes
from tandem.stores.redis.errors import CheckpointMoved, KeyTypeConflict
from tandem.stores.redis.store import CHECKPOINT_KEY, RedisProjectionStore, namespace

__all__ = [
    "CHECKPOINT_KEY",
    "CheckpointMoved",
    "KeyTypeConflict",
    "RedisClient",
    "RedisProjectionStore",
    "RedisTx",
    "as_bytes",
    "connect",
    "is_cluster",
    "namespace",
    "optional_bytes",
]
