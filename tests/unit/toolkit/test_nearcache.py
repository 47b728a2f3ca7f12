"""The near cache's rules: versions only go up, raced fills are not kept, a drop stops
serving until the watermark is set again, and reads above the watermark miss."""

from __future__ import annotations

import pytest

from tandem.nearcache import NearCache


def _serving(capacity: int = 10, watermark: int = 10) -> NearCache[str, bytes]:
    cache: NearCache[str, bytes] = NearCache(capacity)
    cache.resume(watermark)
    return cache


def _fill(cache: NearCache[str, bytes], key: str, version: int, value: bytes) -> bool:
    return cache.finish_fill(cache.begin_fill(key), version, value)


def test_a_filled_entry_answers_reads_at_or_below_the_watermark() -> None:
    cache = _serving(watermark=10)
    assert _fill(cache, "a", 7, b"a7")
    assert cache.get("a", 0) == (7, b"a7")
    assert cache.get("a", 10) == (7, b"a7")
    assert cache.get("b", 0) is None


def test_a_read_above_the_watermark_misses_until_the_feed_reaches_it() -> None:
    cache = _serving(watermark=10)
    _fill(cache, "a", 7, b"a7")
    assert cache.get("a", 11) is None
    cache.apply("a", 11, b"a11")
    assert cache.get("a", 11) is None  # applied, but the watermark has not moved
    cache.advance(11)
    assert cache.get("a", 11) == (11, b"a11")


def test_a_lower_version_never_replaces_a_higher_one() -> None:
    cache = _serving()
    _fill(cache, "a", 9, b"a9")
    cache.apply("a", 5, b"a5")
    assert cache.get("a") == (9, b"a9")
    assert not _fill(cache, "a", 8, b"a8")
    assert not _fill(cache, "a", 9, b"other")
    assert cache.get("a") == (9, b"a9")
    cache.apply("a", 12, b"a12")
    assert cache.get("a") == (12, b"a12")


def test_the_feed_leaves_keys_that_are_not_cached_out() -> None:
    cache = _serving()
    cache.apply("a", 5, b"a5")
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_fill_that_raced_a_change_of_its_key_is_not_kept() -> None:
    cache = _serving()
    fill = cache.begin_fill("a")  # the store is read: version 5 comes back...
    cache.apply("a", 6, b"a6")  # ...while the feed applies version 6
    assert not cache.finish_fill(fill, 5, b"a5")
    assert cache.get("a") is None


def test_a_change_of_another_key_does_not_spoil_a_fill() -> None:
    cache = _serving()
    fill = cache.begin_fill("a")
    cache.apply("b", 6, b"b6")
    assert cache.finish_fill(fill, 5, b"a5")
    assert cache.get("a") == (5, b"a5")


def test_concurrent_fills_of_one_key_are_each_guarded() -> None:
    cache = _serving()
    first, second = cache.begin_fill("a"), cache.begin_fill("a")
    cache.apply("a", 6, b"a6")
    late = cache.begin_fill("a")
    assert not cache.finish_fill(first, 5, b"a5")
    assert not cache.finish_fill(second, 5, b"a5")
    assert cache.finish_fill(late, 6, b"a6")
    assert cache.get("a") == (6, b"a6")


def test_a_fill_finishing_early_leaves_its_twin_guarded() -> None:
    """Found by the chaos runner (a 500 on a product read): two fills of one key begun in
    the same epoch compared equal, so the first to finish took the other's record out.
    A change then marked only the finished one as raced, the other went on unguarded (it
    could have kept what the change replaced), and its finish raised ValueError."""
    cache = _serving()
    first, second = cache.begin_fill("a"), cache.begin_fill("a")
    assert cache.finish_fill(second, 5, b"a5")
    cache.apply("a", 6, b"a6")
    assert not cache.finish_fill(first, 5, b"a5"), "raced by the change to version 6"
    assert cache.get("a") == (6, b"a6")


def test_a_drop_empties_the_cache_and_stops_serving_until_resumed() -> None:
    cache = _serving(watermark=10)
    _fill(cache, "a", 7, b"a7")
    pending = cache.begin_fill("b")
    cache.drop()  # a gap in the feed
    assert cache.get("a") is None
    assert not cache.serving
    assert not _fill(cache, "a", 7, b"a7")  # nothing is kept while dropped
    assert not cache.finish_fill(pending, 3, b"b3")
    cache.resume(20)
    assert cache.watermark.value == 20
    assert cache.get("a") is None
    assert _fill(cache, "a", 15, b"a15")
    assert cache.get("a", 20) == (15, b"a15")


def test_a_fill_begun_before_a_resume_is_not_kept() -> None:
    cache = _serving()
    fill = cache.begin_fill("a")
    cache.drop()
    cache.resume(20)
    assert not cache.finish_fill(fill, 7, b"a7")
    assert cache.get("a") is None


def test_the_watermark_never_goes_back() -> None:
    cache = _serving(watermark=10)
    cache.drop()
    cache.resume(4)
    assert cache.watermark.value == 10
    cache.advance(3)
    assert cache.watermark.value == 10


def test_entries_are_bounded_least_recently_used_first_out() -> None:
    cache = _serving(capacity=2)
    _fill(cache, "a", 1, b"a")
    _fill(cache, "b", 1, b"b")
    assert cache.get("a") is not None  # "b" is now the least recently used
    _fill(cache, "c", 1, b"c")
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_an_abandoned_fill_is_forgotten() -> None:
    cache = _serving()
    fill = cache.begin_fill("a")
    cache.abandon(fill)
    cache.apply("a", 2, b"a2")  # no fill left to mark
    assert _fill(cache, "a", 2, b"a2")


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        NearCache(0)


def test_a_new_cache_does_not_serve_before_its_watermark_is_set() -> None:
    cache: NearCache[str, bytes] = NearCache(4)
    assert not _fill(cache, "a", 1, b"a")
    assert cache.get("a") is None


def test_a_feed_is_wanted_only_for_cached_keys_and_fills_under_way() -> None:
    cache = _serving()
    assert not cache.wants("a")
    fill = cache.begin_fill("a")
    assert cache.wants("a")
    cache.finish_fill(fill, 3, b"a3")
    assert cache.wants("a")
    cache.drop()
    assert not cache.wants("a")
