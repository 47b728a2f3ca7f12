"""One handler per command: load, ask the domain, commit. Rules live in the domain."""

from __future__ import annotations

import uuid

from catalog.domain import commands as c
from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.contact import Contact
from catalog.domain.errors import CategoryCycle, DuplicateId, DuplicateSku, InvalidInput, NotFound
from catalog.domain.order import Order
from catalog.domain.product import Product
from catalog.write.repositories import CatalogUnitOfWork, Repositories
from tandem.bus import CommandBus
from tandem.errors import ConcurrencyConflict
from tandem.uow import CommandResult

MAX_CATEGORY_DEPTH = 8


def _new_id(requested: str | None) -> str:
    """A fresh UUID, or the client's id in canonical form (so lookups always match)."""
    if requested is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(requested))
    except ValueError as exc:
        raise InvalidInput("id", "must be a UUID") from exc


def _expect(aggregate_id: str, expected: int | None, actual: int) -> None:
    if expected is not None and expected != actual:
        raise ConcurrencyConflict(aggregate_id, expected, actual)


async def create_category(cmd: c.CreateCategory, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        repo = uow.repositories()
        id = _new_id(cmd.id)
        if await repo.exists("categories", id):
            raise DuplicateId(f"category {id} already exists")
        if cmd.parent_id is not None:
            ancestors = await repo.category_ancestors(cmd.parent_id)
            if not ancestors:
                raise NotFound("category", cmd.parent_id)
            if len(ancestors) >= MAX_CATEGORY_DEPTH:
                raise CategoryCycle(f"categories nest at most {MAX_CATEGORY_DEPTH} deep")
        uow.track(Category.create(id, cmd.name, cmd.parent_id))
        return await uow.commit(id, created=True)


async def rename_category(cmd: c.RenameCategory, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        category = await uow.repositories().category(cmd.category_id)
        _expect(category.id, cmd.expected_version, category.version)
        category.rename(cmd.name)
        uow.track(category)
        return await uow.commit(category.id, extra={"aggregate_version": category.version})


async def create_product(cmd: c.CreateProduct, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        repo = uow.repositories()
        id = _new_id(cmd.id)
        if await repo.exists("products", id):
            raise DuplicateId(f"product {id} already exists")
        if not await repo.exists("categories", cmd.category_id):
            raise NotFound("category", cmd.category_id)
        product = Product.create(
            id,
            sku=cmd.sku,
            name=cmd.name,
            description=cmd.description,
            category_id=cmd.category_id,
            price=cmd.price,
            currency=cmd.currency,
            attributes=cmd.attributes,
            initial_stock=cmd.initial_stock,
        )
        if await repo.sku_taken(product.sku):
            raise DuplicateSku(f"SKU {product.sku!r} is already used")
        uow.track(product)
        return await uow.commit(id, created=True, extra={"aggregate_version": product.version})


async def _product_command(
    uow: CatalogUnitOfWork, product_id: str, expected: int | None
) -> tuple[Repositories, Product]:
    repo = uow.repositories()
    product = await repo.product(product_id)
    _expect(product.id, expected, product.version)
    return repo, product


async def update_product_details(
    cmd: c.UpdateProductDetails, uow: CatalogUnitOfWork
) -> CommandResult:
    async with uow:
        repo, product = await _product_command(uow, cmd.product_id, cmd.expected_version)
        if cmd.category_id is not None and not await repo.exists("categories", cmd.category_id):
            raise NotFound("category", cmd.category_id)
        product.update_details(
            name=cmd.name,
            description=cmd.description,
            attributes=cmd.attributes,
            category_id=cmd.category_id,
        )
        uow.track(product)
        return await uow.commit(product.id, extra={"aggregate_version": product.version})


async def change_price(cmd: c.ChangePrice, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        _, product = await _product_command(uow, cmd.product_id, cmd.expected_version)
        product.change_price(cmd.price)
        uow.track(product)
        return await uow.commit(product.id, extra={"aggregate_version": product.version})


async def adjust_stock(cmd: c.AdjustStock, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        _, product = await _product_command(uow, cmd.product_id, cmd.expected_version)
        product.adjust_stock(cmd.delta, cmd.reason)
        uow.track(product)
        return await uow.commit(product.id, extra={"aggregate_version": product.version})


async def discontinue_product(cmd: c.DiscontinueProduct, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        _, product = await _product_command(uow, cmd.product_id, cmd.expected_version)
        product.discontinue()
        uow.track(product)
        return await uow.commit(product.id, extra={"aggregate_version": product.version})


async def add_to_cart(cmd: c.AddToCart, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        repo = uow.repositories()
        cart_id = _new_id(cmd.cart_id)
        cart = await repo.cart(cart_id)
        _expect(cart_id, cmd.expected_version, cart.version if cart else 0)
        if cart is None:
            cart = Cart.open(cart_id, cmd.customer)
        cart.check_owner(cmd.customer, cmd.admin)
        cart.add(await repo.product(cmd.product_id, lock=False), cmd.quantity)
        uow.track(cart)
        return await uow.commit(cart.id, extra={"aggregate_version": cart.version})


async def remove_from_cart(cmd: c.RemoveFromCart, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        cart = await uow.repositories().cart(_new_id(cmd.cart_id))
        if cart is None:
            raise NotFound("cart", cmd.cart_id)
        cart.check_owner(cmd.customer, cmd.admin)
        _expect(cart.id, cmd.expected_version, cart.version)
        cart.remove(cmd.product_id)
        uow.track(cart)
        return await uow.commit(cart.id, extra={"aggregate_version": cart.version})


async def place_order(cmd: c.PlaceOrder, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        repo = uow.repositories()
        cart = await repo.cart(_new_id(cmd.cart_id))
        if cart is None:
            raise NotFound("cart", cmd.cart_id)
        cart.check_owner(cmd.customer, cmd.admin)
        _expect(cart.id, cmd.expected_version, cart.version)
        order_id = _new_id(cmd.order_id)
        if await repo.exists("orders", order_id):
            raise DuplicateId(f"order {order_id} already exists")
        products = await repo.products(sorted(cart.lines))
        missing = set(cart.lines) - set(products)
        if missing:
            raise NotFound("product", sorted(missing)[0])
        order = Order.place(order_id, cart, products, _contact(cmd))
        for product in products.values():
            uow.track(product)
        uow.track(cart)
        uow.track(order)
        return await uow.commit(
            order.id,
            created=True,
            extra={"total": str(order.total), "currency": order.currency},
        )


def _contact(cmd: c.PlaceOrder) -> Contact | None:
    if cmd.contact_name is None and cmd.contact_email is None:
        return None
    return Contact.of(cmd.contact_name or "", cmd.contact_email or "")


async def cancel_order(cmd: c.CancelOrder, uow: CatalogUnitOfWork) -> CommandResult:
    async with uow:
        repo = uow.repositories()
        order = await repo.order(_new_id(cmd.order_id))
        order.check_owner(cmd.customer, cmd.admin)
        _expect(order.id, cmd.expected_version, order.version)
        products = await repo.products(sorted({line.product_id for line in order.lines}))
        order.cancel(products)
        for product in products.values():
            uow.track(product)
        uow.track(order)
        return await uow.commit(order.id, extra={"aggregate_version": order.version})


def register(bus: CommandBus[CatalogUnitOfWork]) -> None:
    bus.register(c.CreateCategory, create_category)
    bus.register(c.RenameCategory, rename_category)
    bus.register(c.CreateProduct, create_product)
    bus.register(c.UpdateProductDetails, update_product_details)
    bus.register(c.ChangePrice, change_price)
    bus.register(c.AdjustStock, adjust_stock)
    bus.register(c.DiscontinueProduct, discontinue_product)
    bus.register(c.AddToCart, add_to_cart)
    bus.register(c.RemoveFromCart, remove_from_cart)
    bus.register(c.PlaceOrder, place_order)
    bus.register(c.CancelOrder, cancel_order)
