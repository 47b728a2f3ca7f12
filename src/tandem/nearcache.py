"""A coherent in-process cache of versioned documents: `key → (version, value)`.

A process fills it from its store on a miss and keeps it current from an ordered,
replayable feed of `(key, version, value)` changes. The watermark `W` is the position
up to which every change of the feed has been applied, with no gap: an entry is the
newest version of its key as of `W`, so a read that needs `min_version ≤ W` may be
answered from memory; any other read goes to the store.

The rules that keep it honest:

- an entry is never replaced by a lower version (`apply` and `fill` both check);
- a fill that raced a change of the same key (the feed applied a change while the
  store was being read) is not kept: what it read may predate that change;
- `drop` (a gap in the feed, a reconnect, another copy to serve) empties the cache and
  stops it serving until `resume` sets the watermark again; fills begun before either
  are not kept;
- entries are bounded by count, least recently used first out.

Single-threaded: meant for one event loop, with no await inside any method.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tandem.consistency import VersionWatch

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_CAPACITY = 50_000


@dataclass(slots=True, eq=False)
class Fill(Generic[K]):
    """A read of the store for one key, begun at `epoch`; `raced` once the feed changed
    that key while the read was under way. Each fill is itself only (identity, not field
    equality): two fills of one key begun together are different reads."""

    key: K
    epoch: int
    raced: bool = field(default=False)


class NearCache(Generic[K, V]):
    """Versioned entries, a watermark, and the rules above."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a near cache holds at least one entry")
        self.capacity = capacity
        self.watermark = VersionWatch(0)
        self.serving = False
        self._entries: OrderedDict[K, tuple[int, V]] = OrderedDict()
        self._fills: dict[K, list[Fill[K]]] = {}
        self._epoch = 0
        self.hits = 0
        self.misses = 0
        self.drops = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, min_version: int = 0) -> tuple[int, V] | None:
        """The entry of `key` if the cache may answer a read needing `min_version`."""
        if not self.serving or self.watermark.value < min_version:
            self.misses += 1
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def wants(self, key: K) -> bool:
        """Whether a change of `key` would matter (it is cached, or a fill of it is under
        way): a feed can skip building the values of every other change."""
        return key in self._entries or key in self._fills

    def version_of(self, key: K) -> int | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    # -- the feed ----------------------------------------------------------------------

    def apply(self, key: K, version: int, value: V) -> None:
        """A change from the feed: replaces a cached entry of a lower version; a key not
        cached stays out (but fills of it under way are marked raced)."""
        fills = self._fills.get(key)
        if fills is not None:
            for fill in fills:
                fill.raced = True
        entry = self._entries.get(key)
        if entry is not None and entry[0] < version:
            self._entries[key] = (version, value)

    def advance(self, watermark: int) -> None:
        """Every change of the feed up to `watermark` has been applied."""
        self.watermark.advance(watermark)

    def drop(self) -> None:
        """Forget everything and stop serving until `resume` (a gap, a reconnect, a
        switch to another copy)."""
        self._entries.clear()
        self._epoch += 1
        self.serving = False
        self.drops += 1

    def resume(self, watermark: int) -> None:
        """Serve again: the feed follows on from a position where every change up to
        `watermark` is in the store. Fills begun before now are not kept."""
        self._entries.clear()
        self._epoch += 1
        self.watermark.advance(watermark)
        self.serving = True

    # -- fills from the store ----------------------------------------------------------

    def begin_fill(self, key: K) -> Fill[K]:
        """Call before reading `key` from the store."""
        fill = Fill(key, self._epoch)
        self._fills.setdefault(key, []).append(fill)
        return fill

    def finish_fill(self, fill: Fill[K], version: int | None, value: V | None) -> bool:
        """The store's answer for a fill (`version` None: nothing there); True if kept."""
        fills = self._fills.get(fill.key)
        if fills is not None:
            fills.remove(fill)
            if not fills:
                del self._fills[fill.key]
        if version is None or value is None or fill.raced or fill.epoch != self._epoch:
            return False
        if not self.serving:
            return False
        entry = self._entries.get(fill.key)
        if entry is not None and entry[0] >= version:
            return False
        self._entries[fill.key] = (version, value)
        self._entries.move_to_end(fill.key)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True

    def abandon(self, fill: Fill[K]) -> None:
        """A fill whose read failed."""
        self.finish_fill(fill, None, None)
