"""Where every task of a running process is waiting, on `SIGUSR1`.

A worker whose projections stop advancing while it looks healthy is waiting on
something: a lease, a store, a message. `kill -USR1 PID` writes each asyncio task of
the process with the frames it is suspended in to standard error, without stopping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
from typing import Any


def awaited_frames(coro: Any) -> list[str]:
    """`file:line in function` of each coroutine in the chain `coro` awaits, outermost
    first (a task's own stack shows only the outermost one)."""
    lines: list[str] = []
    while coro is not None and len(lines) < 50:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines


def describe_tasks() -> str:
    """Every task of the running loop with the chain of coroutines it is suspended in."""
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"{len(tasks)} tasks\n")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"--- {task.get_name()}\n")
        out.writelines(line + "\n" for line in awaited_frames(task.get_coro()))
    return out.getvalue()


def install() -> None:
    """Dump the tasks on `SIGUSR1` (no-op where the loop cannot take signals)."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        sys.stderr.write(describe_tasks())
        sys.stderr.flush()

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGUSR1, dump)
