"""Caps on the event streams (SSE) one process serves: in all, and per client address.

A stream holds a connection and a subscription for as long as the client likes, so
streams are counted apart from requests (`ConcurrencyCap` leaves them out). Over the
process's cap a new stream is refused 503, over a client's cap 429, both as
`too-many-streams` problems with `Retry-After`. A client is its address as the server
sees it: behind a proxy every client shares the proxy's, so set the per-client cap to
the process's cap there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from catalog.api.problems import Problem

RETRY_AFTER = "5"


class StreamSlots:
    """Counts open streams; `take` gives a slot (and its release) or refuses."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open = 0
        self._by_client: Counter[str] = Counter()

    def take(self, client: str) -> Callable[[], None]:
        """A slot for a stream of `client`; the returned function gives it back (once).

        Raises a `Problem` when the process or the client is at its cap."""
        if self.open >= self.total:
            raise _refused(503, f"This server serves at most {self.total} event streams.")
        if self._by_client[client] >= self.per_client:
            raise _refused(429, f"At most {self.per_client} event streams per client.")
        self.open += 1
        self._by_client[client] += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.open -= 1
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]

        return release


def _refused(status: int, detail: str) -> Problem:
    return Problem(
        status,
        "too-many-streams",
        "Too many event streams",
        detail,
        headers={"Retry-After": RETRY_AFTER},
    )
