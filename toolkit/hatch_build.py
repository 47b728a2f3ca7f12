"""The toolkit's sources live in ../src/tandem, beside the catalog's: a wheel copies
them in, an editable install points at ../src instead (so edits count at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ToolkitSources(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            sources = Path(self.root).parent / "src" / "tandem"
            build_data["force_include"][str(sources)] = "tandem"
