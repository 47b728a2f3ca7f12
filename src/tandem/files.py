"""Files and folders that only their owner may read or write (0600 and 0700).

A data directory holds the write database, the event log and every read model: what
customers ordered, and the digests of their tokens. Each file and folder is given its
mode when it is made (or, for a file a library makes itself, right after), so nothing
depends on the process's umask and the umask is never changed for the whole process.

>>> folder = private_dir(Path("data"))            # doctest: +SKIP
>>> private_file(folder / "write.db")             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`path` as a folder, made 0700 if it is missing (its missing parents are made
    as the umask says: they are not Tandem's). A folder that exists keeps its mode."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> None:
    """Make `path` an empty 0600 file if it is missing.

    SQLite takes an empty file as a new database and gives its `-wal` and `-shm` files
    the mode of the database file, so a database made here stays private with them.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def restrict(path: Path) -> None:
    """Make a file another library created (if it exists) 0600."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, a 0600 file (made so if it was not)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
