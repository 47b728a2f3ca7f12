"""A server worker process never outlives the process that started it.

`tandem serve` with several workers is a supervisor and worker
processes that build the app (`catalog.api.factory.app_from_env`). If the supervisor
dies without stopping them (SIGKILL, an out-of-memory kill), an orphaned worker would
keep serving with files locked (the embedded profile's SQLite and DuckDB files, the
analytics copies) that a restarted server then cannot open. On Linux each worker asks
the kernel to kill it when its parent dies; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have this process killed when the process that started it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not allowed here: the worker runs on as before
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)  # the parent died before the request took
