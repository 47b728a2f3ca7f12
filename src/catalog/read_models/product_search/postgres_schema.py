"""The PostgreSQL product-search tables: their names per version, and the DDL that makes them.

Each projection version has its own tables, named from its prefix (`SearchTables.named`),
so a rebuild of a later version fills its tables beside the ones being served. Ids and
categories use the "C" collation, so `ORDER BY id` is byte order, as in SQLite, whatever
the database's collation. Which column serves what is said in
`catalog.read_models.product_search.postgres`, the fold that writes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchTables:
    """The names of one version's tables."""

    categories: str
    closure: str
    products: str
    matches: str
    offers: str
    facets: str
    vocabulary: str
    changes: str
    trimmed: str

    @classmethod
    def named(cls, prefix: str) -> SearchTables:
        return cls(
            f"{prefix}_categories",
            f"{prefix}_closure",
            f"{prefix}_products",
            f"{prefix}_matches",
            f"{prefix}_offers",
            f"{prefix}_facets",
            f"{prefix}_vocabulary",
            f"{prefix}_changes",
            f"{prefix}_trimmed",
        )


# Room left in each page of the offers table, so that an update touching no indexed
# column (a stock change) can stay on its page as a HOT update: no new index entries.
OFFERS_FILLFACTOR = 80
# The same for the match rows, whose only indexes are the key and the GIN index of the
# text: every price, stock and status change is such an update, and a row is wider.
MATCHES_FILLFACTOR = 70


def schema(t: SearchTables) -> tuple[str, ...]:
    """Statements that create the tables and indexes (each safe to run again)."""
    return (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"""
        CREATE TABLE IF NOT EXISTS {t.categories} (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT NOT NULL,
            parent_id TEXT COLLATE "C",
            path TEXT NOT NULL,
            path_vector TSVECTOR NOT NULL,
            path_words TEXT NOT NULL
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.categories}_parent ON {t.categories} (parent_id)",
        f"""
        CREATE TABLE IF NOT EXISTS {t.closure} (
            ancestor TEXT COLLATE "C" NOT NULL,
            descendant TEXT COLLATE "C" NOT NULL,
            depth INTEGER NOT NULL,
            PRIMARY KEY (ancestor, descendant)
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.closure}_descendant ON {t.closure} (descendant, depth)",
        # A product's text. The position of ProductCreated is the product's key in every
        # product table, and orders products by age (the `newest` sort key).
        f"""
        CREATE TABLE IF NOT EXISTS {t.products} (
            created_position BIGINT PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL UNIQUE,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            doc_vector TSVECTOR NOT NULL,
            name_words TEXT NOT NULL,
            fuzzy TEXT NOT NULL
        )
        """,
        f"""
        CREATE INDEX IF NOT EXISTS {t.products}_fuzzy
            ON {t.products} USING GIN (fuzzy gin_trgm_ops)
        """,
        # A category rename rewrites the text of the products below it.
        f"CREATE INDEX IF NOT EXISTS {t.products}_category ON {t.products} (category_id)",
        # What a search with text reads of each match, beside the indexed text: one GIN
        # scan finds the matches and their rows hold what their counts and sort need, so
        # no other row is read per match. Nothing else is indexed here, so a price, stock
        # or status change is a HOT update (no new GIN entries: the pending list only
        # grows with new or changed text).
        f"""
        CREATE TABLE IF NOT EXISTS {t.matches} (
            created_position BIGINT PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            price_cents BIGINT NOT NULL,
            bucket SMALLINT NOT NULL,
            stock BIGINT NOT NULL,
            status TEXT NOT NULL,
            search TSVECTOR NOT NULL
        ) WITH (fillfactor = {MATCHES_FILLFACTOR})
        """,
        f"CREATE INDEX IF NOT EXISTS {t.matches}_search ON {t.matches} USING GIN (search)",
        # What searches without text read (price, stock, status, category), with the
        # indexes of their sorts and ranges; and the page's price as written.
        f"""
        CREATE TABLE IF NOT EXISTS {t.offers} (
            created_position BIGINT PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            price_cents BIGINT NOT NULL,
            price TEXT NOT NULL,
            currency TEXT NOT NULL,
            stock BIGINT NOT NULL,
            status TEXT NOT NULL,
            bucket SMALLINT NOT NULL
        ) WITH (fillfactor = {OFFERS_FILLFACTOR})
        """,
        # Only active products are ever searched; these serve the category filter and
        # the price sorts and ranges of searches without text.
        f"""
        CREATE INDEX IF NOT EXISTS {t.offers}_category
            ON {t.offers} (category_id, price_cents, id) WHERE status = 'active'
        """,
        f"""
        CREATE INDEX IF NOT EXISTS {t.offers}_price
            ON {t.offers} (price_cents, id) WHERE status = 'active'
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {t.facets} (
            category_id TEXT COLLATE "C" NOT NULL,
            bucket SMALLINT NOT NULL,
            in_stock BOOLEAN NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (category_id, bucket, in_stock)
        )
        """,
        # Every lexeme of text ever indexed (`postgres_vocabulary`), in byte order, so
        # the words beginning with a prefix are one range of the primary key.
        f'CREATE TABLE IF NOT EXISTS {t.vocabulary} (word TEXT COLLATE "C" PRIMARY KEY)',
        # Which answers each batch may have altered (`postgres_scopes`), numbered in the
        # order they were written, and up to which number rows may have been trimmed
        # (one row).
        f"""
        CREATE TABLE IF NOT EXISTS {t.changes} (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            position BIGINT NOT NULL,
            scope TEXT COLLATE "C" NOT NULL
        )
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {t.trimmed} (
            one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
            seq BIGINT NOT NULL
        )
        """,
        f"INSERT INTO {t.trimmed} (seq) VALUES (0) ON CONFLICT DO NOTHING",
    )
