"""Answers kept in memory hold their bytes, not the encoder's buffer."""

from __future__ import annotations

import tracemalloc

import orjson

from catalog.read_models.documents import Document

STATS = {
    "category_id": "6f4e555a-3745-40c3-af80-5e34423e2b32",
    "name": "Lamps",
    "product_count": 1,
    "in_stock_count": 1,
    "min_price": "6.50",
    "max_price": "6.50",
    "avg_price": "6.50",
    "total_stock": 2,
}


def test_a_kept_answer_holds_about_its_own_size() -> None:
    count = 2_000
    size = len(orjson.dumps(STATS))
    tracemalloc.start()
    try:
        kept = [Document.kept(orjson.dumps(STATS)) for _ in range(count)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept[0].body == orjson.dumps(STATS)
    assert kept[0] == Document.of(orjson.dumps(STATS))  # same bytes, same entity tag
    # The body, its tag and the objects around them; not a 4 KiB buffer each.
    assert held / count < size + 400, (held / count, size)
