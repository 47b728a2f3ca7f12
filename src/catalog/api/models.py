"""Request bodies (strict shapes with bounds; unknown fields are rejected) and the
answers of commands."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

Money = Annotated[str, StringConstraints(pattern=r"^\d{1,9}(\.\d{1,2})?$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AttrKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttrValue = Annotated[str, StringConstraints(max_length=256)]
Attributes = Annotated[dict[AttrKey, AttrValue], Field(max_length=50)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCategoryBody(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    parent_id: UUID | None = None
    id: UUID | None = None


class RenameCategoryBody(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]


class CreateProductBody(Body):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    category_id: UUID
    price: Money
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    attributes: Attributes = Field(default_factory=dict)
    initial_stock: Annotated[StrictInt, Field(ge=0, le=1_000_000_000)] = 0
    id: UUID | None = None


class UpdateProductBody(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    attributes: Attributes | None = None
    category_id: UUID | None = None

    @model_validator(mode="after")
    def _some_field(self) -> UpdateProductBody:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, attributes, category_id")
        return self


class PriceBody(Body):
    price: Money


class StockAdjustmentBody(Body):
    delta: Annotated[StrictInt, Field(ge=-1_000_000_000, le=1_000_000_000)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AddToCartBody(Body):
    product_id: UUID
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class CheckoutBody(Body):
    """Whom the order is for (a guest must say; a token's subject may)."""

    name: Name
    email: Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class CommandResult(BaseModel):
    """Every command's answer: the id of the aggregate it created or changed, and the log
    position of its last event (the version to read at)."""

    id: str
    version: Annotated[int, Field(ge=0, le=2**53 - 1)]


class CheckoutResult(CommandResult):
    """A checkout's answer: the placed order's id, version and total."""

    total: Annotated[str, Field(pattern=r"^\d+\.\d{2}$")]
    currency: str
