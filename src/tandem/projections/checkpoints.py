"""Checkpoint rows for SQL stores, written in the read model's own transaction."""

from __future__ import annotations

from typing import Any, Protocol

CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS tandem_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    version INTEGER NOT NULL
)
"""


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def load(tx: Cursor, name: str) -> int:
    row = tx.execute("SELECT position FROM tandem_checkpoints WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def save(tx: Cursor, name: str, position: int, version: int) -> None:
    tx.execute(
        "INSERT INTO tandem_checkpoints (name, position, version) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
        " version = excluded.version",
        (name, position, version),
    )
