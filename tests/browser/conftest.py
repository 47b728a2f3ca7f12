"""Fixtures of the browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.browser.chromium import launched, need_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (skipped, or failed under `CI=true`,
    without it)."""
    need_chromium()
    with launched() as chromium:
        yield chromium
