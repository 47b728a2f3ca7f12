"""The read-model contract on the embedded profile's SQLite read models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from catalog.read_models.registry import StoreKind
from tests.contracts.read_models.conftest import EmbeddedHistory, embedded_read_models
from tests.contracts.read_models.contract import (
    Answering,
    CartViewContract,
    CategoryStatsContract,
    OrderViewContract,
    ProductDetailContract,
    ProductSearchContract,
    ProductSearchTypoContract,
)


class TestSqliteReadModels(
    ProductDetailContract,
    CategoryStatsContract,
    CartViewContract,
    OrderViewContract,
    ProductSearchContract,
    ProductSearchTypoContract,
):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, tmp_path: Path
    ) -> AsyncIterator[Answering]:
        async with embedded_read_models(StoreKind.SQLITE, embedded_history, tmp_path) as backend:
            yield backend
