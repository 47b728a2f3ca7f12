"""Contract test suites that every backend of Tandem must pass.

Each module (or package, for a suite in several parts) holds one reusable pytest
suite, written against a backend's protocol rather than its code, so a backend written
outside this repository can prove it keeps Tandem's promises by subclassing it:

- `tandem.testing.eventlog.EventLogContract`: an event log (positions, gap-safe reads
  under concurrent writers), composed of `eventlog.basics` and
  `eventlog.concurrent_writers`;
- `tandem.testing.stores.ProjectionStoreContract`: a projection store (checkpoint and
  read model in one transaction, exactly-once effect).

Nothing here is imported by `tandem` itself: the suites need pytest, which is a
development dependency only. `tandem.testing.throwaway` (fresh databases and key
prefixes on the machine's servers, for tests and benchmarks alike) needs no pytest.
"""
