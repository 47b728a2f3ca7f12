"""The answer cache against a model store: whatever the interleaving of writes, feed
progress, fills and reads, an answer served from memory is one the store gave at or
after the version reported, and that version reaches what the read asked for.

An answer depends on its query's scope and on one product scope that the answer itself
names (as a search page names its products): which one, the store decides from the
query scope's state at the snapshot read."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from tandem.answercache import EVERYTHING, AnswerCache, AnswerFill

SCOPES = ("a", "b", "c")
PRODUCTS = ("p1", "p2")
# An answer: (changes to the query's scope, the product it names, changes to that one).
Value = tuple[int, str, int]
Read = tuple[AnswerFill[str], int, Value]  # a fill, the version reported, the answer read
QUERIES = {"qa": "a", "qa2": "a", "qb": "b", "qc": "c"}


class CacheAgainstStore(RuleBasedStateMachine):
    fills = Bundle("fills")
    reads = Bundle("reads")

    def __init__(self) -> None:
        super().__init__()
        self.cache: AnswerCache[str, tuple[str, Value]] = AnswerCache(capacity=3)
        self.changes: list[tuple[int, str]] = []  # (position, scope), the folds' records
        self.head = 0
        self.followed = 0
        self.cache.resume(0)

    def answer_at(self, scope: str, version: int) -> int:
        """The store's answer for a scope at a version: how many changes touched it."""
        return sum(1 for p, s in self.changes if p <= version and s in (scope, EVERYTHING))

    def value_at(self, scope: str, version: int) -> Value:
        """The store's answer for a query of `scope` at a version."""
        count = self.answer_at(scope, version)
        named = PRODUCTS[count % len(PRODUCTS)]
        return count, named, self.answer_at(named, version)

    # Products are written more often than query scopes: their races are the rarer ones.
    @rule(scope=st.sampled_from((*SCOPES, *PRODUCTS * 3, EVERYTHING)))
    def write(self, scope: str) -> None:
        self.head += 1
        self.changes.append((self.head, scope))

    @rule(data=st.data())
    def follow(self, data: st.DataObject) -> None:
        upto = data.draw(st.integers(self.followed, self.head))
        self.cache.touch(s for p, s in self.changes if self.followed < p <= upto)
        self.followed = upto
        self.cache.advance(upto)

    @rule(target=fills, query=st.sampled_from(sorted(QUERIES)))
    def begin(self, query: str) -> AnswerFill[str]:
        return self.cache.begin_fill(query, QUERIES[query])

    @rule(target=reads, fill=consumes(fills), data=st.data())
    def read_store(self, fill: AnswerFill[str], data: st.DataObject) -> Read:
        # The store answers from some snapshot (a replica may lag), and reports a
        # version its snapshot holds; changes may follow before the fill finishes.
        snapshot = data.draw(st.integers(0, self.head))
        reported = data.draw(st.integers(0, snapshot))
        return fill, reported, self.value_at(fill.scope, snapshot)

    @rule(read=consumes(reads))
    def finish(self, read: Read) -> None:
        fill, reported, value = read
        self.cache.finish_fill(fill, reported, (fill.key, value), named=(value[1],))

    @rule(query=st.sampled_from(sorted(QUERIES)), data=st.data())
    def read(self, query: str, data: st.DataObject) -> None:
        wanted = data.draw(st.integers(0, self.head))
        found = self.cache.get(query, wanted)
        if found is None:
            return
        version, (key, (count, named, named_count)) = found
        assert key == query
        assert version >= wanted
        # Served no older than it says: every change to its scopes up to `version` is in.
        assert count >= self.answer_at(QUERIES[query], version)
        assert count <= self.answer_at(QUERIES[query], self.head)
        assert named_count >= self.answer_at(named, version)
        assert named_count <= self.answer_at(named, self.head)

    @rule()
    def drop_and_resume(self) -> None:
        self.cache.drop()
        self.cache.resume(self.followed)

    @invariant()
    def bounded(self) -> None:
        assert len(self.cache) <= 3


CacheAgainstStore.TestCase.settings = settings(max_examples=1500, stateful_step_count=30)
TestCacheAgainstStore = CacheAgainstStore.TestCase
