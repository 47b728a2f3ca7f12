"""PostgreSQL for every PostgreSQL part of the toolkit (asyncpg): the shared pool
(`pool`) and the one LISTEN connection a process keeps for notifications (`notify`).

asyncpg is imported only when a pool or a listener is made, so importing the names here
(as the backends do for their annotations) costs nothing.
"""

from tandem.db.postgres.notify import Listener
from tandem.db.postgres.pool import Connection, Pool, create_pool

__all__ = ["Connection", "Listener", "Pool", "create_pool"]
