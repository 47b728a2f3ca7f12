"""Read models on a PostgreSQL read database (the services profile), one module each.

Each is an `AsyncProjection[asyncpg.Connection]` applied by
`tandem.stores.postgres_projections.PostgresProjectionStore`, and answers the same
questions as its SQLite namesake in `catalog.projections`.
"""
