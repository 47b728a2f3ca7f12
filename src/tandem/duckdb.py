"""The DuckDB backend: an analytical projection store in a local file (the `duckdb`
extra)."""

from tandem.extras import require

require("duckdb", extra="duckdb", needed_by="tandem.duckdb")

from tandem.stores.duckdb import (  # noqa: E402
    DuckDBProjection,
    DuckDBProjectionStore,
    DuckDBTransaction,
)

__all__ = ["DuckDBProjection", "DuckDBProjectionStore", "DuckDBTransaction"]
