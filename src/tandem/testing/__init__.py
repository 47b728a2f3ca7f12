"""Contract test suites that every backend of Tandem must pass.

Each module (or package, for a suite in several parts) holds one reusable pytest
suite, written against a backend's protocol rather than its code, so a backend written
outside this repository can prove it keeps Tandem's promises by subclassing it:

- `EventLogContract` (`tandem.testing.eventlog`): an event log (positions, gap-safe
  reads under concurrent writers), with the `EventLogBackend` protocol it drives;
- `ProjectionStoreContract` (`tandem.testing.stores`): a projection store (checkpoint
  and read model in one transaction, exactly-once effect), with `StoreBackend`;
- `TransportContract` (`tandem.testing.transports`): a transport from the log to the
  projection runners (every event once, in order, woken without polling), with
  `TransportBackend`.

The suites need pytest and pytest-asyncio (the `testing` extra), so they are imported
from here on first use, never by `tandem` itself. `tandem.testing.throwaway` (fresh
databases and key prefixes on the machine's servers, for tests and benchmarks alike)
needs no pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_exports

if TYPE_CHECKING:
    from tandem.testing.eventlog import EventLogBackend, EventLogContract
    from tandem.testing.stores import ProjectionStoreContract, StoreBackend
    from tandem.testing.transports import TransportBackend, TransportContract

_HOMES = {
    "EventLogBackend": "tandem.testing.eventlog",
    "EventLogContract": "tandem.testing.eventlog",
    "ProjectionStoreContract": "tandem.testing.stores",
    "StoreBackend": "tandem.testing.stores",
    "TransportBackend": "tandem.testing.transports",
    "TransportContract": "tandem.testing.transports",
}

__all__ = [
    "EventLogBackend",
    "EventLogContract",
    "ProjectionStoreContract",
    "StoreBackend",
    "TransportBackend",
    "TransportContract",
]


__getattr__ = lazy_exports(__name__, _HOMES)
