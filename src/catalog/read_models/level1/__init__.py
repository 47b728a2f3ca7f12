"""Separation level 1: queries read the normalized write tables directly.

No projection runs: every query joins and aggregates the tables commands write (and,
for price history, reads the event log table), in one read snapshot, and answers with
the same documents as the read models of levels 2 and 3. A read reflects everything
committed, so the version it reports is the log head taken before it ran.

- `dialect`: the few SQL fragments SQLite and PostgreSQL spell differently;
- `documents`: the response documents built from rows;
- `statements`: the SQL of every query but search; `search`: the search;
- `reads`: the query handlers; `sqlite` and `postgres`: snapshots on each database;
- `feed`: the version watch queries wait on, and the live product feed, both the log
  head; `wiring`: all of it assembled for a composition root.
"""

READ_MODEL = "write_tables"
"""The name every level-1 query is registered under: the write tables themselves."""
