"""The answer cache's rules: answers are forgotten when their scope changes, fills that
raced a change of their scope (or read below the watermark) are not kept, EVERYTHING and
drop forget every answer, and an answer reports the version it holds at."""

from __future__ import annotations

from tandem.answercache import EVERYTHING, AnswerCache


def _serving(watermark: int = 10, capacity: int = 10) -> AnswerCache[str, str]:
    cache: AnswerCache[str, str] = AnswerCache(capacity)
    cache.resume(watermark)
    return cache


def _fill(cache: AnswerCache[str, str], key: str, scope: str, version: int, value: str) -> bool:
    return cache.finish_fill(cache.begin_fill(key, scope), version, value)


def test_an_answer_holds_until_its_scope_changes() -> None:
    cache = _serving(watermark=10)
    assert _fill(cache, "q1", "shoes", 10, "a")
    assert _fill(cache, "q2", "bags", 10, "b")
    cache.advance(15)
    assert cache.get("q1", 15) == (15, "a")  # nothing touched shoes up to 15
    cache.touch(["shoes"])
    cache.advance(16)
    assert cache.get("q1") is None
    assert cache.get("q2", 16) == (16, "b")


def test_a_read_above_what_the_answer_holds_at_misses() -> None:
    cache = _serving(watermark=10)
    _fill(cache, "q", "shoes", 12, "a")
    assert cache.get("q", 12) == (12, "a")
    assert cache.get("q", 13) is None
    cache.advance(13)
    assert cache.get("q", 13) == (13, "a")


def test_a_fill_that_raced_a_change_of_its_scope_is_not_kept() -> None:
    cache = _serving()
    fill = cache.begin_fill("q", "shoes")
    other = cache.begin_fill("r", "bags")
    cache.touch(["shoes"])
    assert not cache.finish_fill(fill, 11, "stale?")
    assert cache.finish_fill(other, 11, "b")
    assert cache.get("q") is None


def test_a_fill_read_below_the_watermark_of_its_start_is_not_kept() -> None:
    cache = _serving(watermark=20)
    assert not _fill(cache, "q", "shoes", 19, "old")
    assert _fill(cache, "q", "shoes", 20, "new")


def test_everything_and_drop_forget_every_answer_and_fill() -> None:
    cache = _serving()
    _fill(cache, "q", "shoes", 10, "a")
    fill = cache.begin_fill("r", "bags")
    cache.touch([EVERYTHING])
    assert cache.get("q") is None
    assert not cache.finish_fill(fill, 10, "b")
    _fill(cache, "q", "shoes", 10, "a")
    fill = cache.begin_fill("r", "bags")
    cache.drop()
    assert not cache.serving and cache.get("q") is None
    assert not cache.finish_fill(fill, 10, "b")
    cache.resume(30)
    assert cache.get("q") is None
    assert _fill(cache, "q", "shoes", 30, "a")


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = _serving(capacity=2)
    _fill(cache, "a", "s", 10, "a")
    _fill(cache, "b", "s", 10, "b")
    cache.get("a")
    _fill(cache, "c", "t", 10, "c")
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    cache.touch(["s"])  # the evicted answer's filing is gone too
    assert cache.get("a") is None and len(cache) == 1


def test_an_older_fill_does_not_replace_a_newer_answer() -> None:
    cache = _serving()
    _fill(cache, "q", "s", 14, "new")
    assert not _fill(cache, "q", "s", 12, "older")
    assert cache.get("q") == (14, "new")


def test_an_answer_is_also_forgotten_when_a_scope_it_names_changes() -> None:
    cache = _serving(watermark=10)
    fill = cache.begin_fill("q", "shoes")
    assert cache.finish_fill(fill, 10, "page with p1 and p2", named=["p1", "p2"])
    cache.touch(["p3"])
    assert cache.get("q") == (10, "page with p1 and p2")
    cache.touch(["p2"])
    assert cache.get("q") is None
    cache.touch(["shoes", "p1"])  # forgotten once, filed nowhere any more
    assert _fill(cache, "q", "shoes", 11, "again")


def test_a_fill_whose_named_scope_changed_while_it_read_is_not_kept() -> None:
    cache = _serving(watermark=10)
    fill = cache.begin_fill("q", "shoes")
    other = cache.begin_fill("q2", "bags")
    cache.touch(["p1"])  # the fill's answer will name p1: it may hold p1 as it was
    cache.advance(11)
    assert not cache.finish_fill(fill, 10, "page with p1", named=["p1"])
    assert cache.get("q") is None
    # A touch before a fill began does not count against it.
    late = cache.begin_fill("q", "shoes")
    assert cache.finish_fill(late, 11, "page with p1", named=["p1"])
    assert cache.finish_fill(other, 11, "bags page", named=["p1"]) is False


def test_touches_past_the_remembered_bound_still_race_the_fills_under_way() -> None:
    cache = _serving(watermark=10)
    first = cache.begin_fill("q1", "shoes")
    cache.touch(["p-early"])
    second = cache.begin_fill("q2", "shoes")
    third = cache.begin_fill("q3", "shoes")
    assert cache.finish_fill(first, 10, "a")  # the oldest fill under way is now `second`
    cache.touch(["p-late"])
    cache.touch(f"p{i}" for i in range(10_000))  # far more than are remembered
    assert not cache.finish_fill(second, 10, "b", named=["p-late"])
    assert not cache.finish_fill(third, 10, "c", named=["p9999"])
    later = cache.begin_fill("q4", "shoes")
    assert cache.finish_fill(later, 10, "d", named=["p-early", "p-late", "p9999"])
