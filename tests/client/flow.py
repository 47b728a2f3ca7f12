"""A client's flow through the catalog, written against a client generated from the
server's OpenAPI document (package `tandem_client`) and nothing else: no hand-written
HTTP. `tests/e2e/test_generated_client.py` generates the package, checks this module
with `mypy --strict` against it, and runs it:

    python flow.py BASE_URL ADMIN_TOKEN
"""

from __future__ import annotations

import sys
import uuid

from tandem_client import AuthenticatedClient
from tandem_client.api.commands import change_price, create_category, create_product
from tandem_client.api.queries import get_product, search_products
from tandem_client.models import (
    CommandResult,
    CreateCategoryBody,
    CreateProductBody,
    PriceBody,
    Problem,
    ProductDocument,
    ProductDocumentStatus,
    SearchPage,
)


def created(answer: CommandResult | Problem | None) -> CommandResult:
    assert isinstance(answer, CommandResult), answer
    return answer


def run(base_url: str, token: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    run_id = uuid.uuid4().hex[:8]
    key = f"flow-{run_id}"

    category = create_category.sync_detailed(
        client=client,
        body=CreateCategoryBody(name=f"Lamps {run_id}"),
        idempotency_key=f"{key}-category",
    )
    assert category.status_code == 201, category.content
    category_id = created(category.parsed).id
    assert category.headers["Location"] == f"/categories/{category_id}/stats"

    body = CreateProductBody(
        sku=f"LAMP-{run_id}",
        name=f"Reading lamp {run_id}",
        category_id=uuid.UUID(category_id),
        price="24.50",
        initial_stock=3,
    )
    product = create_product.sync_detailed(client=client, body=body, idempotency_key=key)
    assert product.status_code == 201, product.content
    made = created(product.parsed)
    # A retry with the same key answers the first answer.
    again = create_product.sync_detailed(client=client, body=body, idempotency_key=key)
    assert created(again.parsed).to_dict() == made.to_dict()
    product_id = uuid.UUID(made.id)

    read = get_product.sync_detailed(product_id, client=client, min_version=made.version)
    assert read.status_code == 200, read.content
    document = read.parsed
    assert isinstance(document, ProductDocument), document
    assert document.price == "24.50"
    assert document.status is ProductDocumentStatus.ACTIVE
    assert document.category.id == category_id
    assert int(read.headers["X-Read-Version"]) >= made.version
    etag = read.headers["ETag"]

    found = search_products.sync_detailed(
        client=client, q=f"lamp {run_id}", min_version=made.version
    )
    page = found.parsed
    assert isinstance(page, SearchPage), page
    assert [item.id for item in page.items] == [str(product_id)]

    changed = change_price.sync_detailed(
        product_id, client=client, body=PriceBody(price="19.99"), if_match=f'"{document.version}"'
    )
    assert changed.status_code == 200, changed.content
    assert changed.headers["ETag"] == f'"{document.version + 1}"'
    assert etag  # the document's tag, not the aggregate's

    stale = change_price.sync_detailed(
        product_id, client=client, body=PriceBody(price="18.00"), if_match=f'"{document.version}"'
    )
    assert stale.status_code == 409
    conflict = stale.parsed
    assert isinstance(conflict, Problem), conflict
    assert conflict.type_.endswith("version-conflict")

    ahead = get_product.sync_detailed(
        product_id, client=client, min_version=created(changed.parsed).version + 10**9, wait_ms=0
    )
    assert ahead.status_code == 503
    behind = ahead.parsed
    assert isinstance(behind, Problem), behind
    assert behind.type_.endswith("read-model-behind")
    assert int(ahead.headers["Retry-After"]) >= 0


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    print("flow passed")
