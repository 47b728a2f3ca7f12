"""Failed authentications per client address, so that guessing tokens is slow.

An address that fails `limit` times within a window (fixed, from its first failure) is
held back until the window ends: its requests that need a token are answered 429 with
`Retry-After`, and their token is not even checked. Only that address is affected, and
only on routes that need a token; public reads go on.

The count is kept per API process, in memory: with several processes behind a load
balancer an address may fail `limit` times in each. Memory is bounded: past `capacity`
addresses the one that failed least recently is forgotten (an attacker with that many
addresses gains nothing he did not have already).

Why not the `limits` package: its in-memory storage keeps every key until it expires,
with no bound on how many, and runs a timer thread every 10 ms to expire them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_CAPACITY = 10_000


class AuthFailures:
    """Failures by address, each as [start of its window, failures in it]."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._by_address: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_address)

    def held_back(self, address: str) -> int | None:
        """Seconds until `address` may try again (at least 1), or None if it may now."""
        if not self._by_address:
            return None
        entry = self._by_address.get(address)
        if entry is None or entry[1] < self.limit:
            return None
        left = entry[0] + self.window - self._clock()
        return max(1, math.ceil(left)) if left > 0 else None

    def failed(self, address: str) -> None:
        """Count one failed authentication of `address`."""
        if self.limit <= 0:
            return
        now = self._clock()
        entry = self._by_address.pop(address, None)
        if entry is None or now - entry[0] >= self.window:
            entry = [now, 0]
        entry[1] += 1
        self._by_address[address] = entry
        if len(self._by_address) > self.capacity:
            self._by_address.popitem(last=False)
