"""Read-your-writes versions that clients bring back, checked against the log.

After a command a client keeps the version it was answered (in a cookie, say) and asks
later reads to wait for it. A version from another log (a database since recreated,
another deployment on the same host) or above anything the log holds can never be
reached: waiting for it would only end in "read model behind" until the client writes
again. `Sessions` tells the two apart so such a version is ignored instead.

    sessions = Sessions(head)
    sessions.bind(await log.identity(), log.last_position)
    if await sessions.reachable(version, identity=cookie_identity): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tandem.consistency import VersionWatch


class Sessions:
    """The identity of the log this process serves, and which versions it can reach.

    A version at or below the head this process has seen is reachable at once; one
    above it costs one read of the log's last position (every committed event, visible
    to readers yet or not), remembered for the versions that follow.
    """

    def __init__(self, head: VersionWatch) -> None:
        self.head = head
        self.identity = ""
        self._last_position: Callable[[], Awaitable[int]] | None = None
        self._known = 0

    def bind(self, identity: str, last_position: Callable[[], Awaitable[int]]) -> None:
        """The log's identity and how to read its last position (once the log is open)."""
        self.identity = identity
        self._last_position = last_position

    def issued_here(self, identity: str | None) -> bool:
        """Whether a version carrying `identity` (None: carries none) may be from this log."""
        return identity is None or identity == self.identity

    async def reachable(self, version: int) -> bool:
        """Whether the log holds `version` (every committed event counts)."""
        if version <= self.head.value or version <= self._known:
            return True
        if self._last_position is None:
            return False
        self._known = max(self._known, await self._last_position())
        return version <= self._known
