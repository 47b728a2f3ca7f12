"""Level 1's version watch and live product feed, both driven by the log head.

Queries wait on the head itself: the write tables hold everything committed, so a read
that starts once the head has reached a version reflects it. The product feed re-reads
its subscribers' products from the write tables whenever the head moves and passes on
each document that differs from the one it last saw (a price change, a category
renamed above it); documents changed several times between two looks arrive once, at
their newest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence

import orjson

from catalog.read_models.level1 import READ_MODEL
from catalog.read_models.shapes import ProductDocument
from tandem.consistency import VersionWatch

Documents = Callable[[Sequence[str]], Awaitable[dict[str, ProductDocument]]]
# The feed reads at most this many products per statement.
CHUNK = 500


class WriteTables:
    """The write tables as the consistency middleware sees a read model: always at the
    head, never failed. Not a projection: `/status` does not list it."""

    name = READ_MODEL
    mode = "direct"
    state = "live"
    error: str | None = None
    events_applied = 0

    def __init__(self, head: VersionWatch) -> None:
        self.checkpoint = head

    def lag_seconds(self) -> float:
        return 0.0


def head_changes(
    documents: Documents, head: VersionWatch
) -> Callable[[int, Collection[str]], Awaitable[list[tuple[str, int, bytes]]]]:
    """`ProductFeed` changes: the subscribed products whose document differs from the
    last one seen, each at the head read before it was loaded."""
    seen: dict[str, bytes] = {}

    async def changes(since: int, wanted: Collection[str]) -> list[tuple[str, int, bytes]]:
        position = head.value
        ids = list(wanted)
        found: dict[str, ProductDocument] = {}
        for start in range(0, len(ids), CHUNK):
            found.update(await documents(ids[start : start + CHUNK]))
        changed: list[tuple[str, int, bytes]] = []
        for product_id, doc in found.items():
            raw = orjson.dumps(doc)
            if seen.get(product_id) != raw:
                seen[product_id] = raw
                changed.append((product_id, position, raw))
        for gone in seen.keys() - set(ids):
            del seen[gone]
        return changed

    return changes
