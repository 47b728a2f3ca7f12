"""OpenAPI links: how the answer of one operation feeds the next.

Every command answers `{"id", "version"}` (api.md); the document says so, so the
links' `$response.body#/id` points into a declared field.

A created category's id is the path of its rename and its stats, the parent of a
sub-category and the category of a new product; a created product's id is the path of
its reads and commands and the product of a cart line; a cart line's cart is the cart
to read or check out; a placed order is the order to read or cancel; a made token is
the token to revoke. Clients (and
stateful API fuzzers) follow these links instead of guessing ids.
"""

from __future__ import annotations

from typing import Any

# (source method, source path, status) → [(link name, target method, target path,
# parameters, request body)]
_Link = tuple[str, str, str, dict[str, str], dict[str, Any] | None]
_ID = "$response.body#/id"

LINKS: dict[tuple[str, str, str], list[_Link]] = {
    ("post", "/categories", "201"): [
        ("RenameCategory", "patch", "/categories/{category_id}", {"category_id": _ID}, None),
        ("CategoryStats", "get", "/categories/{category_id}/stats", {"category_id": _ID}, None),
        ("CreateProductInCategory", "post", "/products", {}, {"category_id": _ID}),
        ("CreateSubcategory", "post", "/categories", {}, {"parent_id": _ID}),
    ],
    ("post", "/products", "201"): [
        ("GetProduct", "get", "/products/{product_id}", {"product_id": _ID}, None),
        ("UpdateProduct", "patch", "/products/{product_id}", {"product_id": _ID}, None),
        ("ChangePrice", "put", "/products/{product_id}/price", {"product_id": _ID}, None),
        (
            "AdjustStock",
            "post",
            "/products/{product_id}/stock-adjustments",
            {"product_id": _ID},
            None,
        ),
        (
            "PriceHistory",
            "get",
            "/products/{product_id}/price-history",
            {"product_id": _ID},
            None,
        ),
        ("DiscontinueProduct", "delete", "/products/{product_id}", {"product_id": _ID}, None),
        ("AddToCart", "post", "/carts/{cart_id}/items", {}, {"product_id": _ID}),
    ],
    ("post", "/carts/{cart_id}/items", "200"): [
        ("GetCart", "get", "/carts/{cart_id}", {"cart_id": "$request.path.cart_id"}, None),
        (
            "Checkout",
            "post",
            "/carts/{cart_id}/checkout",
            {"cart_id": "$request.path.cart_id"},
            None,
        ),
        (
            "RemoveFromCart",
            "delete",
            "/carts/{cart_id}/items/{product_id}",
            {"cart_id": "$request.path.cart_id", "product_id": "$request.body#/product_id"},
            None,
        ),
    ],
    ("post", "/carts/{cart_id}/checkout", "201"): [
        ("GetOrder", "get", "/orders/{order_id}", {"order_id": _ID}, None),
        ("CancelOrder", "post", "/orders/{order_id}/cancel", {"order_id": _ID}, None),
    ],
    ("post", "/admin/tokens", "201"): [
        ("RevokeToken", "delete", "/admin/tokens/{token_id}", {"token_id": _ID}, None),
    ],
}


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add `links` to the answers in `LINKS` (those present)."""
    paths = schema.get("paths", {})
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        published = response.setdefault("links", {})
        for name, target_method, target_path, parameters, body in links:
            target = paths.get(target_path, {}).get(target_method)
            if target is None or "operationId" not in target:
                continue
            link: dict[str, Any] = {"operationId": target["operationId"]}
            if parameters:
                link["parameters"] = dict(parameters)
            if body is not None:
                link["requestBody"] = dict(body)
            published[name] = link
    return schema
