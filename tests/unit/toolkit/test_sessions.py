"""`Sessions`: which read-your-writes versions a client brings back can be reached."""

from __future__ import annotations

from tandem.consistency import VersionWatch
from tandem.sessions import Sessions


async def test_versions_up_to_the_seen_head_are_reachable_without_reading_the_log() -> None:
    reads: list[int] = []

    async def last_position() -> int:
        reads.append(1)
        return 40

    sessions = Sessions(VersionWatch(25))
    sessions.bind("a1", last_position)
    assert await sessions.reachable(25)
    assert reads == []
    # Above the head this process has seen: one read of the log's last position …
    assert await sessions.reachable(40)
    assert not await sessions.reachable(41)
    assert len(reads) == 2
    # … remembered for the versions below it.
    assert await sessions.reachable(33)
    assert len(reads) == 2


async def test_a_version_of_another_log_is_not_issued_here() -> None:
    sessions = Sessions(VersionWatch(0))
    assert not await sessions.reachable(1)  # no log bound yet: nothing is reachable
    sessions.bind("a1", lambda: _constant(9))
    assert sessions.issued_here("a1")
    assert sessions.issued_here(None)  # a client that kept only the version
    assert not sessions.issued_here("b2")
    assert not sessions.issued_here("")


async def _constant(value: int) -> int:
    return value
