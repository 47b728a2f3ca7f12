"""Fixtures shared by every test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from catalog.bootstrap import Catalog
from catalog.settings import Settings


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    """A started catalog on the embedded profile, in its own data directory."""
    cat = Catalog(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        yield cat
    finally:
        await cat.stop()
        cat.close()
