"""Query answers kept in process memory (`tandem.answercache`), for search and stats.

A search or a category's stats costs a round trip and work in the read store; the
storefront asks the same few again and again. Each API process keeps the serialized
answers of such queries, filed under the scope they depend on (the category a search
is narrowed to, or the whole catalog; the category whose stats they are) and, for a
search, under each product its page shows (whose stock count it lists) and under the
offer changes of its category that may alter it (those of products whose text has its
word key, for a search answered by full text: `product_search.word_keys`), and follows
the read model's scope changes (`catalog.read_models.scopes`): whenever the tracked
checkpoint advances, it reads what the folds recorded since its cursor, forgets the
answers of every touched scope and raises the watermark to the checkpoint read with
them. A read needing `min_version` is answered from memory when the answer holds at
that version; any other read, and every miss, goes through the query bus (waiting on
the checkpoint as usual) and fills the cache.

The cache is dropped and follows on from the newest checkpoint when the records were
trimmed past its cursor (it fell behind), when reading them fails, when a rebuild
switches the process to another copy, and while the store holds less than this
process served (`went_back`). An answer served from memory is the bytes the bus would
have produced, with the version it holds at: indistinguishable from an uncached one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from catalog.read_models.documents import Document
from catalog.read_models.following import follow
from catalog.read_models.product_search.rules import is_approximate, search_terms
from catalog.read_models.product_search.word_keys import search_key
from catalog.read_models.queries import GetCategoryStats, SearchProducts
from catalog.read_models.scopes import (
    CATALOG,
    ScopeChanges,
    offers_scope,
    product_scope,
    touched_by,
)
from tandem.answercache import AnswerCache
from tandem.bus import QueryBus
from tandem.consistency import VersionWatch
from tandem.loads import Loads
from tandem.messages import Query
from tandem.stores.switchable import Switchable, SwitchableReads

log = logging.getLogger("catalog.answers")

Q = TypeVar("Q", bound=Query)

Served = Callable[[], tuple[object, Any]]
"""The copy of a read model served now (an identity that changes when a rebuild switches
copies) and the reads that answer from it."""


def switchable(reads: SwitchableReads) -> Served:
    """Where a rebuild switches the reads object itself (the services profile)."""
    return lambda: (reads.target, reads.target)


def switched_under(reader: Switchable, reads: Any) -> Served:
    """Where a rebuild switches the file under one reads object (the embedded profile)."""
    return lambda: (reader.target, reads)


# Answers kept per query type and process (0: no cache), from TANDEM_ANSWER_CACHE.
SIZE_SETTING = "TANDEM_ANSWER_CACHE"
DEFAULT_CAPACITY = 10_000


def cache_size(env: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get(SIZE_SETTING, "").strip()
    if not raw:
        return DEFAULT_CAPACITY
    if not raw.isdigit():
        raise ValueError(f"{SIZE_SETTING} must be a count of answers, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Cached(Generic[Q]):
    """A query type whose answers are cached: its read model, and the scope an answer
    depends on."""

    query: type[Q]
    read_model: str
    scope_of: Callable[[Q], str]
    # The scopes an answer names besides its query's, from the query and the answer
    # (the products a search page shows, the offer changes that may alter it).
    named: Callable[[Q, Any], list[str]] = lambda _query, _answer: []


def _search_scope(query: SearchProducts) -> str:
    return query.category or CATALOG


def _search_named(query: SearchProducts, answer: Any) -> list[str]:
    """A search answer names the offer changes of its category that may alter it (those
    under its word key, if full text answered it and it has one: `word_keys`) and each
    product its page shows: a change only a listing can tell (a stock count) forgets
    the pages that list the product."""
    key = None if is_approximate(answer) else search_key(search_terms(query.q))
    return [
        offers_scope(_search_scope(query), key),
        *(product_scope(item["id"]) for item in answer["items"]),
    ]


def _stats_scope(query: GetCategoryStats) -> str:
    return query.category_id


SEARCH = Cached(SearchProducts, "product_search", _search_scope, _search_named)
STATS = Cached(GetCategoryStats, "category_stats", _stats_scope)


class CachedAnswers(Generic[Q]):
    """The answers to one query type, their scope feed and their fills."""

    def __init__(
        self,
        served: Served,
        checkpoint: VersionWatch,
        bus: QueryBus,
        scope_of: Callable[[Q], str],
        capacity: int,
        tracked: Any = None,
        named: Callable[[Q, Any], list[str]] = lambda _query, _answer: [],
    ) -> None:
        # `served`: the copy of the read model served now and its reads (which offer
        # `scope_changes`); `tracked`: the read model as this process follows it, whose
        # `went_back` says the store lost what it held.
        self.cache: AnswerCache[Q, Document] = AnswerCache(capacity)
        self._served = served
        self._checkpoint = checkpoint
        self._bus = bus
        self._scope_of = scope_of
        self._named = named
        self._tracked = tracked
        self._following: Any = None
        self._cursor: Any = None
        self._wake = asyncio.Event()
        self._loads: Loads[Q, tuple[int, Document]] = Loads()

    # -- reads -------------------------------------------------------------------------

    def lookup(self, query: Q, min_version: int) -> tuple[int, Document] | None:
        """(version to report, answer) from memory, or None."""
        if self._served()[0] is not self._following or self._went_back():
            if self.cache.serving:
                self.cache.drop()
                self._following = None
                self._wake.set()
            return None
        return self.cache.get(query, min_version)

    async def answer(self, query: Q, min_version: int, timeout: float) -> tuple[int, Document]:
        """(version, answer): from memory where it holds at `min_version`, else loaded."""
        found = self.lookup(query, min_version)
        if found is None:
            found = await self.load(query, min_version, timeout)
        return found

    async def load(self, query: Q, min_version: int, timeout: float) -> tuple[int, Document]:
        """The answer from the store; concurrent misses of one query share one read
        (`tandem.loads`)."""
        return await self._loads.load(
            query, min_version, lambda: self._fetch(query, min_version, timeout)
        )

    async def _fetch(self, query: Q, min_version: int, timeout: float) -> tuple[int, Document]:
        """Ask the bus (which waits for `min_version`), and keep the answer."""
        fill = self.cache.begin_fill(query, self._scope_of(query))
        try:
            result = await self._bus.ask(query, min_version=min_version, timeout=timeout)
            answer = Document.kept(orjson.dumps(result.value))
        except BaseException:
            self.cache.abandon(fill)
            raise
        named = self._named(query, result.value)
        self.cache.finish_fill(fill, result.read_version, answer, named)
        return result.read_version, answer

    def _went_back(self) -> bool:
        return bool(getattr(self._tracked, "went_back", False))

    # -- the scope feed ----------------------------------------------------------------

    async def run(self) -> None:
        """Follow the scope changes until cancelled."""
        await follow(self._checkpoint, self._wake, self._sync, self._dropped, "answer cache")

    def _dropped(self) -> None:
        self.cache.drop()
        self._following = None

    async def _sync(self) -> None:
        copy, reads = self._served()
        if copy is not self._following:
            await self._position(copy, reads)
            return
        changes: ScopeChanges = await reads.scope_changes(self._cursor)
        if copy is not self._served()[0]:
            self._wake.set()  # switched meanwhile: placed again right away
            return
        if changes.gap:
            log.info("answer cache: scope changes trimmed past the cursor; dropped")
            await self._position(copy, reads)
            return
        self.cache.touch(scope for _, record in changes.rows for scope in touched_by(record))
        self._cursor = changes.cursor
        self.cache.advance(changes.checkpoint)

    async def _position(self, copy: object, reads: Any) -> None:
        """Empty the cache and follow on from the store's checkpoint now: every change
        up to it is in what the store answers."""
        self.cache.drop()
        self._following = None
        if self._went_back():
            return  # placed again at a later advance, once the store is back
        changes: ScopeChanges = await reads.scope_changes(None)
        if copy is not self._served()[0]:
            self._wake.set()
            return
        self._following, self._cursor = copy, changes.cursor
        self.cache.resume(changes.checkpoint)


Answers = Mapping[type[Query], CachedAnswers[Any]]
"""The cached answers of a process, by query type (empty: none cached)."""


def start(
    bus: QueryBus,
    cached: tuple[Cached[Any], ...],
    served: Mapping[str, Served],
    tracked: Mapping[str, Any],
    capacity: int | None = None,
) -> dict[type[Query], CachedAnswers[Any]]:
    """Cached answers for `cached` query types (none when sized 0): `served` says what
    each read model serves now, by name, `tracked` how this process follows it. Each
    returned cache's `run` follows its read model's scope changes."""
    capacity = cache_size() if capacity is None else capacity
    if capacity == 0:
        return {}
    return {
        spec.query: CachedAnswers(
            served[spec.read_model],
            tracked[spec.read_model].checkpoint,
            bus,
            spec.scope_of,
            capacity,
            tracked[spec.read_model],
            spec.named,
        )
        for spec in cached
    }
