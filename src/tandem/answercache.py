"""A coherent in-process cache of query answers, each valid while its scope is unchanged.

Where `tandem.nearcache` keeps documents that a feed replaces one by one, a query's
answer (a search page, an aggregate) cannot be patched: it can only be forgotten. Each
answer is filed under the scope its query names (say, the category subtree a search is
narrowed to) and under any scopes its answer names (say, each product on a search's
page), and the read model's folds record which scopes every batch touched. A process follows
those records in order and forgets the answers of each touched scope; the watermark
`W` is the position up to which it has followed them with no gap. An answer read at
version `R` is then also the answer at every version up to `max(R, W)`: nothing that
could change it happened in between, so that is the version it reports.

The rules that keep it honest:

- an answer is served only if `max(R, W)` reaches the version the read needs;
- a fill any of whose scopes was touched while the store was being read is not kept
  (the scopes its answer names included: touches are remembered while fills are under
  way), nor one read below the watermark of its start (it may predate a change already
  followed);
- `EVERYTHING` forgets every answer; `drop` (a gap, a reconnect, another copy to serve)
  also stops serving until `resume`, and no fill begun before either is kept;
- answers are bounded by count, least recently used first out.

Single-threaded: meant for one event loop, with no await inside any method.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tandem.consistency import VersionWatch

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

EVERYTHING = "*"  # a scope every answer depends on
DEFAULT_CAPACITY = 10_000
# Touches remembered for the fills under way before those older than all of them are
# let go.
_TOUCHES_KEPT = 4096


@dataclass(slots=True, eq=False)
class AnswerFill(Generic[K]):
    """A read of the store for one query: begun in `epoch` at watermark `floor`; `raced`
    once the query's scope was touched while it was under way."""

    key: K
    scope: str
    epoch: int
    floor: int
    touches: int  # the cache's count of touches when it began
    raced: bool = field(default=False)


@dataclass(slots=True)
class _Answer(Generic[V]):
    version: int
    scopes: tuple[str, ...]
    value: V


class AnswerCache(Generic[K, V]):
    """Answers by query, filed by scope, forgotten when their scope changes."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("an answer cache holds at least one answer")
        self.capacity = capacity
        self.watermark = VersionWatch(0)
        self.serving = False
        self._answers: OrderedDict[K, _Answer[V]] = OrderedDict()
        self._by_scope: dict[str, set[K]] = {}
        self._fills: dict[str, list[AnswerFill[K]]] = {}
        self._under_way = 0
        # Touches counted, and each scope's latest while any fill is under way (the
        # scopes an answer names are known only when it is finished).
        self._touches = 0
        self._touched: dict[str, int] = {}
        self._epoch = 0
        self.hits = 0
        self.misses = 0
        self.drops = 0

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: K, min_version: int = 0) -> tuple[int, V] | None:
        """(version the answer holds at, answer) if it may serve a read of `min_version`."""
        answer = self._answers.get(key) if self.serving else None
        if answer is None:
            self.misses += 1
            return None
        version = max(answer.version, self.watermark.value)
        if version < min_version:
            self.misses += 1
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return version, answer.value

    # -- the scope feed ----------------------------------------------------------------

    def touch(self, scopes: Iterable[str]) -> None:
        """The feed says these scopes changed: forget their answers; fills of them under
        way are not kept."""
        for scope in scopes:
            if scope == EVERYTHING:
                self._forget_all()
                return
            for key in self._by_scope.pop(scope, ()):
                answer = self._answers.pop(key)
                for other in answer.scopes:
                    if other != scope:
                        self._unfile(key, other)
            for fill in self._fills.get(scope, ()):
                fill.raced = True
            if self._under_way:
                self._touches += 1
                self._touched[scope] = self._touches
        if len(self._touched) > _TOUCHES_KEPT:
            oldest = min(f.touches for fills in self._fills.values() for f in fills)
            self._touched = {s: n for s, n in self._touched.items() if n > oldest}

    def advance(self, watermark: int) -> None:
        """Every change of the feed up to `watermark` has been followed."""
        self.watermark.advance(watermark)

    def drop(self) -> None:
        """Forget everything and stop serving until `resume`."""
        self._forget_all()
        self.serving = False
        self.drops += 1

    def resume(self, watermark: int) -> None:
        """Serve again, following the feed on from `watermark`."""
        self._forget_all()
        self.watermark.advance(watermark)
        self.serving = True

    def _forget_all(self) -> None:
        self._answers.clear()
        self._by_scope.clear()
        self._epoch += 1

    # -- fills from the store ----------------------------------------------------------

    def begin_fill(self, key: K, scope: str) -> AnswerFill[K]:
        """Call before asking the store for the answer to `key`, filed under `scope`."""
        fill = AnswerFill(key, scope, self._epoch, self.watermark.value, self._touches)
        self._fills.setdefault(scope, []).append(fill)
        self._under_way += 1
        return fill

    def finish_fill(
        self,
        fill: AnswerFill[K],
        version: int | None,
        value: V | None,
        named: Sequence[str] = (),
    ) -> bool:
        """The store's answer, read at `version` (None: no answer to keep), also filed
        under the scopes it `named`; True if kept."""
        fills = self._fills.get(fill.scope)
        if fills is None or fill not in fills:
            return False  # finished already
        fills.remove(fill)
        if not fills:
            del self._fills[fill.scope]
        self._under_way -= 1
        raced = fill.raced or any(self._touched.get(s, 0) > fill.touches for s in named)
        if not self._under_way:
            self._touched.clear()
        if version is None or value is None or not self.serving:
            return False
        if raced or fill.epoch != self._epoch or version < fill.floor:
            return False
        if EVERYTHING in named:
            return False  # an answer that depends on every change is never current
        old = self._answers.get(fill.key)
        if old is not None:
            if old.version >= version:
                return False  # as current as this one, and read no earlier
            self._discard(fill.key)
        scopes = tuple(dict.fromkeys((fill.scope, *named)))
        self._answers[fill.key] = _Answer(version, scopes, value)
        for scope in scopes:
            self._by_scope.setdefault(scope, set()).add(fill.key)
        if len(self._answers) > self.capacity:
            self._discard(next(iter(self._answers)))
        return True

    def abandon(self, fill: AnswerFill[K]) -> None:
        """A fill whose read failed."""
        self.finish_fill(fill, None, None)

    def _discard(self, key: K) -> None:
        answer = self._answers.pop(key)
        for scope in answer.scopes:
            self._unfile(key, scope)

    def _unfile(self, key: K, scope: str) -> None:
        keys = self._by_scope.get(scope)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_scope[scope]
