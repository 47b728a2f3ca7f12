"""What a product-detail document is, whatever store keeps it.

Every store keeps one display-ready document per product with its category's name and
path folded in; this module says how the document reads, what a product event changes
in it, and how a category block reads. Finding the category block (and rewriting the
documents below a renamed category) is each store's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from catalog.read_models.shapes import CategoryBlock, ProductDocument, ProductStatus

ACTIVE: Final = "active"
DISCONTINUED: Final = "discontinued"


def category_block(category_id: str, name: str = "", path: Sequence[str] = ()) -> CategoryBlock:
    """The category part of a document; a category the read model never saw has no name
    and an empty path."""
    return {"id": category_id, "name": name, "path": list(path)}


def product_document(
    product_id: str,
    sku: str,
    name: str,
    description: str,
    category: CategoryBlock,
    price: str,
    currency: str,
    stock: int,
    status: ProductStatus,
    attributes: dict[str, str],
    version: int,
) -> ProductDocument:
    """The document in the key order every store and level 1 answer with."""
    return {
        "id": product_id,
        "sku": sku,
        "name": name,
        "description": description,
        "category": category,
        "price": price,
        "currency": currency,
        "stock": stock,
        "in_stock": stock > 0,
        "status": status,
        "attributes": attributes,
        "version": version,
    }


def created_document(
    product_id: str, version: int, data: Mapping[str, Any], category: CategoryBlock
) -> ProductDocument:
    """The document of a product as `ProductCreated` (its `data`) makes it."""
    return product_document(
        product_id,
        data["sku"],
        data["name"],
        data["description"],
        category,
        data["price"],
        data["currency"],
        data["stock"],
        ACTIVE,
        data["attributes"],
        version,
    )


def change_document(
    doc: dict[str, Any],
    event_type: str,
    data: Mapping[str, Any],
    version: int,
    category: CategoryBlock | None,
) -> None:
    """Apply a later product event to its document in place; `category` is the block of
    the category a `ProductDetailsUpdated` names (None for other events)."""
    if event_type == "ProductDetailsUpdated":
        doc.update(
            name=data["name"],
            description=data["description"],
            attributes=data["attributes"],
            category=category,
        )
    elif event_type == "PriceChanged":
        doc["price"] = data["price"]
    elif event_type == "StockAdjusted":
        doc["stock"] = data["stock"]
        doc["in_stock"] = data["stock"] > 0
    elif event_type == "ProductDiscontinued":
        doc["status"] = DISCONTINUED
    doc["version"] = version
