"""Optional dependencies: a backend module checks for its driver before it imports
anything that needs it, and names the extra that installs it."""

from __future__ import annotations

import importlib.util


class MissingExtra(ImportError):
    """A backend's driver is not installed; the message names the extra to install."""


def require(module: str, *, extra: str, needed_by: str) -> None:
    """Raise `MissingExtra` if `module` cannot be imported, without importing it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(
            f"{needed_by} needs {module}, which is not installed: pip install 'tandem[{extra}]'",
            name=module,
        )
