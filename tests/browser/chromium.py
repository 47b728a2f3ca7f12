"""Debian's Chromium driven by Playwright, shared by the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.server import Server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need_chromium() -> None:
    """Skip (fail under `CI=true`) when Debian's chromium package is missing."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing; the browser tests need Debian's chromium package"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def serving(data_dir: Path) -> Iterator[Server]:
    """A `tandem serve` process on `data_dir` for the pages to be tested against (the
    test is skipped first, or failed under `CI=true`, without Chromium)."""
    need_chromium()
    server = Server(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def launched() -> Iterator[Browser]:
    """A headless Chromium; screenshots go to `ARTIFACTS`."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
