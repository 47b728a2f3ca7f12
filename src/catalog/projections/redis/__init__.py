"""The catalog's read models on Redis (services profile), one module each.

Each projection has the name, version and event types of its SQLite counterpart in
`catalog.projections` and answers the same queries with the same values; only the
structures differ, chosen so an event costs O(1) round trips, or O(affected documents)
for a category rename. Keys are relative to the projection's namespace (see
`tandem.stores.redis_projections`).
"""

from catalog.projections.redis.cart_view import RedisCartViewProjection
from catalog.projections.redis.category_stats import RedisCategoryStatsProjection
from catalog.projections.redis.order_view import RedisOrderViewProjection
from catalog.projections.redis.product_detail import RedisProductDetailProjection

__all__ = [
    "RedisCartViewProjection",
    "RedisCategoryStatsProjection",
    "RedisOrderViewProjection",
    "RedisProductDetailProjection",
]
