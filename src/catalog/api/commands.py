"""Command endpoints: body → command → bus → `{"id", "version"}`.

The two commands a back office sends most (a price, a stock adjustment) are also
answered by `catalog.api.hot_commands` in front of the router, from `HOT`: the same
scope, body model and command as their routes here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from catalog.api import models
from catalog.api.edge import (
    CANONICAL_UUID,
    CatalogWriter,
    Customer,
    InventoryWriter,
    command_response,
    correlation_id,
    idempotency_key,
    if_match,
)
from catalog.domain import commands as c
from catalog.domain.errors import InvalidInput
from catalog.runtime.contract import Runtime
from tandem.messages import Command

router = APIRouter(tags=["commands"])


async def _dispatch(
    request: Request, command: Command, subject: str, location: str | None = None
) -> Response:
    return await dispatch(request.app.state.catalog, request, command, subject, location)


async def dispatch(
    catalog: Runtime,
    request: Request,
    command: Command,
    subject: str,
    location: str | None = None,
) -> Response:
    """The command's answer: the bus's result with the request's idempotency key and
    correlation id; `location` (a path with `{id}`) is where a created aggregate is read."""
    result = await catalog.command_bus.dispatch(
        command,
        subject=subject,
        idempotency_key=idempotency_key(request),
        correlation_id=correlation_id(request),
    )
    response = command_response(result, catalog.sessions.identity)
    if location is not None and result.created:
        response.headers["Location"] = location.format(id=result.id)
    return response


@router.post("/categories", status_code=201, response_model=models.CommandResult)
async def create_category(
    request: Request,
    body: models.CreateCategoryBody,
    who: CatalogWriter,
) -> Response:
    command = c.CreateCategory(
        name=body.name,
        parent_id=str(body.parent_id) if body.parent_id else None,
        id=str(body.id) if body.id else None,
    )
    return await _dispatch(request, command, who.subject, "/categories/{id}/stats")


@router.patch("/categories/{category_id}", response_model=models.CommandResult)
async def rename_category(
    request: Request,
    category_id: UUID,
    body: models.RenameCategoryBody,
    who: CatalogWriter,
) -> Response:
    command = c.RenameCategory(
        category_id=str(category_id), name=body.name, expected_version=if_match(request)
    )
    return await _dispatch(request, command, who.subject)


@router.post("/products", status_code=201, response_model=models.CommandResult)
async def create_product(
    request: Request,
    body: models.CreateProductBody,
    who: CatalogWriter,
) -> Response:
    command = c.CreateProduct(
        sku=body.sku,
        name=body.name,
        description=body.description,
        category_id=str(body.category_id),
        price=Decimal(body.price),
        currency=body.currency,
        attributes=dict(body.attributes),
        initial_stock=body.initial_stock,
        id=str(body.id) if body.id else None,
    )
    return await _dispatch(request, command, who.subject, "/products/{id}")


@router.patch("/products/{product_id}", response_model=models.CommandResult)
async def update_product(
    request: Request,
    product_id: UUID,
    body: models.UpdateProductBody,
    who: CatalogWriter,
) -> Response:
    command = c.UpdateProductDetails(
        product_id=str(product_id),
        name=body.name,
        description=body.description,
        attributes=dict(body.attributes) if body.attributes is not None else None,
        category_id=str(body.category_id) if body.category_id else None,
        expected_version=if_match(request),
    )
    return await _dispatch(request, command, who.subject)


def _price(product_id: str, body: models.PriceBody, request: Request) -> c.ChangePrice:
    return c.ChangePrice(
        product_id=product_id, price=Decimal(body.price), expected_version=if_match(request)
    )


def _stock(product_id: str, body: models.StockAdjustmentBody, request: Request) -> c.AdjustStock:
    return c.AdjustStock(
        product_id=product_id,
        delta=body.delta,
        reason=body.reason,
        expected_version=if_match(request),
    )


@router.put("/products/{product_id}/price", response_model=models.CommandResult)
async def change_price(
    request: Request,
    product_id: UUID,
    body: models.PriceBody,
    who: CatalogWriter,
) -> Response:
    return await _dispatch(request, _price(str(product_id), body, request), who.subject)


@router.post("/products/{product_id}/stock-adjustments", response_model=models.CommandResult)
async def adjust_stock(
    request: Request,
    product_id: UUID,
    body: models.StockAdjustmentBody,
    who: InventoryWriter,
) -> Response:
    return await _dispatch(request, _stock(str(product_id), body, request), who.subject)


@dataclass(frozen=True)
class HotCommand:
    """A command route as the hot path takes it: the path (its one group a canonical
    UUID, as `str(UUID)` writes it), the token scope, the body and the command."""

    path: re.Pattern[str]
    scope: str
    body: type[models.Body]
    build: Callable[[str, Any, Request], Command]


HOT: dict[str, HotCommand] = {
    "PUT": HotCommand(
        re.compile(rf"/products/{CANONICAL_UUID}/price"), "catalog:write", models.PriceBody, _price
    ),
    "POST": HotCommand(
        re.compile(rf"/products/{CANONICAL_UUID}/stock-adjustments"),
        "inventory:write",
        models.StockAdjustmentBody,
        _stock,
    ),
}


@router.delete("/products/{product_id}", response_model=models.CommandResult)
async def discontinue_product(request: Request, product_id: UUID, who: CatalogWriter) -> Response:
    command = c.DiscontinueProduct(product_id=str(product_id), expected_version=if_match(request))
    return await _dispatch(request, command, who.subject)


@router.post("/carts/{cart_id}/items", response_model=models.CommandResult)
async def add_to_cart(
    request: Request,
    cart_id: UUID,
    body: models.AddToCartBody,
    who: Customer,
) -> Response:
    command = c.AddToCart(
        cart_id=str(cart_id),
        product_id=str(body.product_id),
        quantity=body.quantity,
        customer=who.subject,
        admin=who.is_admin,
        expected_version=if_match(request),
    )
    return await _dispatch(request, command, who.subject)


@router.delete("/carts/{cart_id}/items/{product_id}", response_model=models.CommandResult)
async def remove_from_cart(
    request: Request,
    cart_id: UUID,
    product_id: UUID,
    who: Customer,
) -> Response:
    command = c.RemoveFromCart(
        cart_id=str(cart_id),
        product_id=str(product_id),
        customer=who.subject,
        admin=who.is_admin,
        expected_version=if_match(request),
    )
    return await _dispatch(request, command, who.subject)


@router.post("/carts/{cart_id}/checkout", status_code=201, response_model=models.CheckoutResult)
async def checkout(
    request: Request,
    cart_id: UUID,
    who: Customer,
    body: models.CheckoutBody | None = None,
) -> Response:
    if body is None and who.is_guest:
        raise InvalidInput("body", "a guest's checkout needs a name and an email")
    command = c.PlaceOrder(
        cart_id=str(cart_id),
        customer=who.subject,
        admin=who.is_admin,
        expected_version=if_match(request),
        contact_name=body.name if body else None,
        contact_email=body.email if body else None,
    )
    return await _dispatch(request, command, who.subject, "/orders/{id}")


@router.post("/orders/{order_id}/cancel", response_model=models.CommandResult)
async def cancel_order(request: Request, order_id: UUID, who: Customer) -> Response:
    command = c.CancelOrder(
        order_id=str(order_id),
        customer=who.subject,
        admin=who.is_admin,
        expected_version=if_match(request),
    )
    return await _dispatch(request, command, who.subject)
