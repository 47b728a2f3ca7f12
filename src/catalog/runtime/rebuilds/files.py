"""Where each embedded read model's file lives, across blue/green rebuilds.

A read model starts in `read/NAME.EXT`. A rebuild folds a new copy into
`read/NAME.gN.EXT` beside it and, once caught up, points `read/NAME.live` at the new
file (an atomic rename of a one-line file) before the old one is dropped, so a restart
at any moment opens a complete copy. The copy records the projection version that built
it in its own checkpoint row; a start drops the copies a stopped process left behind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tandem.files import write_private


def _pointer(folder: Path, name: str) -> Path:
    return folder / f"{name}.live"


def live_file(folder: Path, name: str, suffix: str) -> Path:
    """The file the read model is served from now."""
    pointer = _pointer(folder, name)
    if pointer.exists():
        return folder / pointer.read_text().strip()
    return folder / f"{name}{suffix}"


def next_file(folder: Path, name: str, suffix: str) -> Path:
    """A fresh file for a rebuild of `name` (a cancelled rebuild's leftovers removed)."""
    live = live_file(folder, name, suffix)
    generation = 2
    while (candidate := folder / f"{name}.g{generation}{suffix}") == live:
        generation += 1
    remove(candidate)
    return candidate


def clean(folder: Path, name: str, suffix: str) -> list[Path]:
    """Remove every copy of `name` but the live one (a rebuild's, stopped before it
    switched, or the one a switch replaced); returns the files removed."""
    live = live_file(folder, name, suffix)
    copy = re.compile(rf"{re.escape(name)}(\.g\d+)?{re.escape(suffix)}")
    left = [p for p in folder.iterdir() if copy.fullmatch(p.name) and p != live]
    for path in left:
        remove(path)
    return left


def point_to(folder: Path, name: str, target: Path) -> None:
    """Make `target` the live file of `name`, atomically."""
    pointer = _pointer(folder, name)
    temporary = pointer.with_suffix(".live.tmp")
    write_private(temporary, target.name + "\n")
    os.replace(temporary, pointer)


def remove(path: Path) -> None:
    """A database file and its journals (SQLite `-wal`/`-shm`, DuckDB `.wal`)."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.wal")):
        candidate.unlink(missing_ok=True)
