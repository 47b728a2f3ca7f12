"""The event log head as a deployment reports it on `/status`."""

from __future__ import annotations

import time

import httpx


def settled_head(client: httpx.Client, reads: int = 4, timeout: float = 5.0) -> int:
    """The head once `reads` successive `/status` answers agree.

    Behind a balancer each API process learns of new events on its own, a moment
    apart; successive reads reach every process, so agreeing reads mean every process
    has seen every event committed before the call.
    """
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(int(client.get("/status").json()["head"]))
        if len(seen) >= reads and len(set(seen[-reads:])) == 1:
            return seen[-1]
        time.sleep(0.05)
    return max(seen)
