"""How the `tandem` command reports what an operator must fix: one line on standard
error, no traceback, and an exit code a script can tell apart.

A bad setting exits with 2, as a bad option does; a store that cannot be reached, or a
data directory another process holds, with 1. Anything else is a bug, and keeps its
traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from catalog.settings import SettingsError
from tandem.errors import StoreInUse, StoreUnreachable
from tandem.unavailable import location, reason, unavailable

SETTINGS_EXIT = 2
FAILURE_EXIT = 1

# Drivers whose errors name no database, by the module their errors come from: the
# store's name, its URL setting and its default port.
_DRIVERS = {
    "redis": ("Redis", "TANDEM_REDIS_URL", 6379),
    "nats": ("NATS", "TANDEM_NATS_URL", 4222),
}


@contextmanager
def reported() -> Iterator[None]:
    """Run a command; what an operator must fix ends it with one line and its code."""
    try:
        yield
    except SettingsError as exc:
        _exit(str(exc), SETTINGS_EXIT)
    except StoreInUse as exc:
        _exit(
            f"{exc}, a running server perhaps: ask it with --url (or TANDEM_URL), or stop it first",
            FAILURE_EXIT,
        )
    except Exception as exc:
        if not unavailable(exc):
            raise
        _exit(_unreachable(exc), FAILURE_EXIT)


def _unreachable(exc: BaseException) -> str:
    if isinstance(exc, StoreUnreachable):
        return str(exc)
    driver = _DRIVERS.get(type(exc).__module__.partition(".")[0])
    if driver is None:
        return f"cannot reach a store: {reason(exc)}"
    name, setting, port = driver
    return f"cannot reach {name} at {location(os.environ.get(setting, ''), port)}: {reason(exc)}"


def _exit(message: str, code: int) -> None:
    print(f"tandem: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(code)
