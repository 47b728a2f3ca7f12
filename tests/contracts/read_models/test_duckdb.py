"""The read-model contract on DuckDB: the analytics read models (each API process of
either profile folds its own copy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from catalog.read_models.registry import StoreKind
from tests.contracts.read_models.conftest import EmbeddedHistory, embedded_read_models
from tests.contracts.read_models.contract import (
    Answering,
    PriceHistoryContract,
    SalesAnalyticsContract,
)


class TestDuckDBReadModels(SalesAnalyticsContract, PriceHistoryContract):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, tmp_path: Path
    ) -> AsyncIterator[Answering]:
        async with embedded_read_models(StoreKind.DUCKDB, embedded_history, tmp_path) as backend:
            yield backend
