"""Query endpoints: read models only, at the version the caller asks for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from catalog.api.edge import (
    Customer,
    asks_strong,
    document_response,
    query_response,
    read_requirements,
)
from catalog.read_models import queries as q
from catalog.read_models import shapes
from catalog.runtime.contract import Runtime
from tandem.messages import Query as QueryMessage

router = APIRouter(tags=["queries"])

MoneyParam = Annotated[
    str | None,
    Query(pattern=r"^\d{1,9}(\.\d{1,2})?$", description="A decimal amount, e.g. `19.99`."),
]


async def _ask(request: Request, query: QueryMessage, subject: str = "anonymous") -> Response:
    catalog: Runtime = request.app.state.catalog
    min_version, timeout = await read_requirements(request, catalog.sessions)
    if asks_strong(request):
        bus = catalog.strong_queries
    else:
        cached = catalog.answers.get(type(query))
        if cached is not None:
            return document_response(request, *await cached.answer(query, min_version, timeout))
        bus = catalog.query_bus
    result = await bus.ask(query, subject=subject, min_version=min_version, timeout=timeout)
    return query_response(request, result)


@router.get("/products/{product_id}", response_model=shapes.ProductDocument)
async def get_product(request: Request, product_id: UUID) -> Response:
    return await _ask(request, q.GetProduct(product_id=str(product_id)))


@router.get("/products", response_model=shapes.SearchPage)
async def search_products(
    request: Request,
    q_: Annotated[str | None, Query(alias="q", max_length=200)] = None,
    category: UUID | None = None,
    min_price: MoneyParam = None,
    max_price: MoneyParam = None,
    in_stock: bool | None = None,
    sort: Literal["relevance", "price_asc", "price_desc", "newest"] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    query = q.SearchProducts(
        q=q_,
        category=str(category) if category else None,
        min_price=None if min_price is None else Decimal(min_price),
        max_price=None if max_price is None else Decimal(max_price),
        in_stock=in_stock,
        sort=sort,
        limit=limit,
        cursor=cursor or None,
    )
    return await _ask(request, query)


@router.get("/categories", response_model=shapes.CategoryTree)
async def list_categories(request: Request) -> Response:
    return await _ask(request, q.ListCategories())


@router.get("/categories/{category_id}/stats", response_model=shapes.CategoryStats)
async def category_stats(request: Request, category_id: UUID) -> Response:
    return await _ask(request, q.GetCategoryStats(category_id=str(category_id)))


@router.get("/carts/{cart_id}", response_model=shapes.Cart)
async def get_cart(request: Request, cart_id: UUID, who: Customer) -> Response:
    query = q.GetCart(cart_id=str(cart_id), customer=who.subject, admin=who.is_admin)
    return await _ask(request, query, who.subject)


@router.get("/orders/{order_id}", response_model=shapes.Order)
async def get_order(request: Request, order_id: UUID, who: Customer) -> Response:
    query = q.GetOrder(order_id=str(order_id), customer=who.subject, admin=who.is_admin)
    return await _ask(request, query, who.subject)


@router.get("/analytics/sales", response_model=shapes.SalesReport, name="sales_analytics")
async def sales(
    request: Request,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    group_by: shapes.SalesGrouping = "day",
) -> Response:
    query = q.SalesAnalytics(
        start=from_.isoformat() if from_ else None,
        end=to.isoformat() if to else None,
        group_by=group_by,
    )
    return await _ask(request, query)


@router.get("/products/{product_id}/price-history", response_model=shapes.PriceHistory)
async def price_history(request: Request, product_id: UUID) -> Response:
    return await _ask(request, q.PriceHistory(product_id=str(product_id)))
