"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODES = {"product_detail": "sync", "cart_view": "sync"}


class SettingsError(ValueError):
    """A setting has a value Tandem cannot use."""


def _modes(raw: str) -> dict[str, str]:
    modes: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, mode = item.partition("=")
        if mode not in ("sync", "async"):
            raise SettingsError(f"TANDEM_PROJECTION_MODES: {item!r} is not NAME=sync|async")
        modes[name.strip()] = mode
    return modes


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str | None = None
    level: int = 3
    admin_token: str | None = None
    modes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MODES))
    default_wait_ms: int = 2000
    max_wait_ms: int = 10000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = int(env.get("TANDEM_LEVEL", "3"))
        if level not in (2, 3):
            raise SettingsError("TANDEM_LEVEL must be 2 or 3 on the embedded profile")
        modes = dict(DEFAULT_MODES)
        modes.update(_modes(env.get("TANDEM_PROJECTION_MODES", "")))
        url = env.get("TANDEM_DATABASE_URL") or None
        if url is not None and not url.startswith("sqlite:///"):
            raise SettingsError(
                "TANDEM_DATABASE_URL: this build runs the embedded profile (sqlite:///PATH)"
            )
        return cls(
            data_dir=Path(env.get("TANDEM_DATA_DIR", "./data")),
            database_url=url,
            level=level,
            admin_token=env.get("TANDEM_ADMIN_TOKEN") or None,
            modes=modes,
        )

    @property
    def write_database(self) -> Path:
        if self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "write.db"

    def mode_of(self, name: str, *, can_sync: bool) -> str:
        if not can_sync:
            return "async"
        if self.level == 2:
            return "sync"
        return self.modes.get(name, "async")
