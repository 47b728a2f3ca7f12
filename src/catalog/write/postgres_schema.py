"""The write model's normalized tables on PostgreSQL, as versioned migrations."""

from __future__ import annotations

from tandem.migrations import Component, Migration

MIGRATIONS = Component(
    "catalog",
    [
        Migration(
            1,
            "categories, products, carts, orders",
            """
            CREATE TABLE categories (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL,
                parent_id TEXT REFERENCES categories (id),
                version INTEGER NOT NULL
            );
            CREATE INDEX categories_parent ON categories (parent_id);
            CREATE TABLE products (
                id TEXT PRIMARY KEY,
                sku TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                category_id TEXT NOT NULL REFERENCES categories (id),
                price TEXT NOT NULL,
                price_cents BIGINT NOT NULL,
                currency TEXT NOT NULL,
                attributes JSONB NOT NULL,
                stock INTEGER NOT NULL CHECK (stock >= 0),
                status TEXT NOT NULL,
                version INTEGER NOT NULL
            );
            CREATE INDEX products_category ON products (category_id);
            CREATE TABLE carts (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                version INTEGER NOT NULL
            );
            CREATE TABLE cart_lines (
                cart_id TEXT NOT NULL REFERENCES carts (id),
                product_id TEXT NOT NULL REFERENCES products (id),
                quantity INTEGER NOT NULL CHECK (quantity > 0),
                PRIMARY KEY (cart_id, product_id)
            );
            CREATE TABLE orders (
                id TEXT PRIMARY KEY,
                cart_id TEXT NOT NULL,
                customer TEXT NOT NULL,
                status TEXT NOT NULL,
                total TEXT NOT NULL,
                currency TEXT NOT NULL,
                placed_at DOUBLE PRECISION NOT NULL,
                lines JSONB NOT NULL,
                version INTEGER NOT NULL
            );
            CREATE INDEX orders_customer ON orders (customer);
            """,
        ),
        Migration(
            2,
            "bearer tokens",
            """
            CREATE TABLE tokens (
                digest TEXT PRIMARY KEY,
                subject TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            """,
        ),
        Migration(
            3,
            "tokens with ids, expiry and revocation",
            # Each token kept gets an id; one whose subject no token may take now
            # (`admin`, blank, padded, with control characters, too long) is revoked.
            """
            ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
            ALTER TABLE tokens
                ADD COLUMN id TEXT,
                ADD COLUMN expires_at TIMESTAMPTZ,
                ADD COLUMN revoked_at TIMESTAMPTZ;
            UPDATE tokens SET id = gen_random_uuid()::text;
            ALTER TABLE tokens
                ALTER COLUMN id SET NOT NULL,
                ADD PRIMARY KEY (id),
                ADD CONSTRAINT tokens_digest_key UNIQUE (digest);
            UPDATE tokens SET revoked_at = now()
            WHERE lower(subject) = 'admin' OR btrim(subject) = '' OR subject <> btrim(subject)
                OR length(subject) > 128 OR subject ~ '[[:cntrl:]]';
            """,
        ),
        Migration(
            4,
            "orders with the contact given at checkout",
            "ALTER TABLE orders ADD COLUMN contact JSONB;",
        ),
    ],
)
