from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `tandem serve` process, shared by the tests of one module."""
    root: Path = tmp_path_factory.mktemp("e2e")
    srv = Server(root / "data")
    srv.start()
    yield srv
    srv.stop()
