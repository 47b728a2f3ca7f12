"""What the embedded databases of this process hold in memory, by their own count.

The process's resident memory says how much, not what: SQLite's page caches, DuckDB's
buffer pools and Python's own objects all live in it. SQLite reports its allocations
through `sqlite3_memory_used()`, which Python's `sqlite3` module does not expose; it is
read here from the SQLite library the module loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _sqlite_memory_used() -> Callable[[], int] | None:
    import _sqlite3

    for name in (_sqlite3.__file__, ctypes.util.find_library("sqlite3")):
        if not name:
            continue
        try:
            library = ctypes.CDLL(name)
            used = library.sqlite3_memory_used
        except (OSError, AttributeError):
            continue
        used.restype = ctypes.c_int64
        used.argtypes = []
        return used
    return None


def sqlite_bytes() -> int | None:
    """Bytes SQLite holds now in this process (page caches, statements, …); None where
    the library does not say."""
    used = _sqlite_memory_used()
    return None if used is None else int(used())
