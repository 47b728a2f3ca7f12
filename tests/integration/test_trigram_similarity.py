"""The SQLite search's typo fallback computes `pg_trgm`'s `word_similarity` as
PostgreSQL does: the same `real` for thousands of random terms and texts, words repeated
and typo'd, so both backends keep and rank the same products."""

from __future__ import annotations

import random

import asyncpg
import pytest

from catalog.read_models.product_search.trigrams import word_similarity
from tandem.testing.throwaway import PostgresDatabase

pytestmark = pytest.mark.services


def _pairs(count: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    letters = "abcdeklnorst"  # few letters: trigrams repeat within and across words

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))

    pairs = []
    for _ in range(count):
        term = " ".join(word() for _ in range(rng.choice((1, 1, 1, 2))))
        text = " ".join(word() for _ in range(rng.randint(1, 6)))
        pairs.append((term, text))
    return [*pairs, ("kettel", "electric kettle"), ("runer", "trail runner running")]


async def test_word_similarity_is_pg_trgms(pg_read_database: PostgresDatabase) -> None:
    pairs = _pairs(5000)
    conn = await asyncpg.connect(pg_read_database.url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        rows = await conn.fetch(
            "SELECT word_similarity(t, s) AS w FROM unnest($1::text[], $2::text[]) AS u(t, s)",
            [term for term, _ in pairs],
            [text for _, text in pairs],
        )
    finally:
        await conn.close()
    differ = [
        (term, text, row["w"])
        for (term, text), row in zip(pairs, rows, strict=True)
        if word_similarity(term, text) != row["w"]
    ]
    assert differ == []
