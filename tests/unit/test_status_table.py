"""`tandem status`: the rebuild column."""

from __future__ import annotations

from catalog.cli import rebuild_cell
from tandem.rebuilds.progress import Rebuild, RebuildState


def test_a_running_rebuild_shows_its_version_and_progress() -> None:
    rebuild = Rebuild("product_detail", "product_detail_g2", version=2, head=200, checkpoint=50)
    assert rebuild_cell(rebuild.describe()).startswith("[yellow]v2 running 25.0% (")


def test_a_failed_rebuild_is_red_and_says_why() -> None:
    rebuild = Rebuild("product_detail", "product_detail_g2", version=2)
    rebuild.state, rebuild.error = RebuildState.FAILED, "KeyError: [name]"
    assert rebuild_cell(rebuild.describe()) == "[bold red]v2 failed: KeyError: \\[name][/]"


def test_no_rebuild_is_an_empty_cell() -> None:
    assert rebuild_cell(None) == ""
