"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODES = {"product_detail": "sync", "cart_view": "sync"}
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class SettingsError(ValueError):
    """A setting has a value Tandem cannot use."""


def _per_projection(setting: str, raw: str, allowed: Collection[str]) -> dict[str, str]:
    """`NAME=VALUE,…` of a per-projection setting, every value one of `allowed`."""
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        if value not in allowed:
            shown = "|".join(sorted(allowed)) if len(allowed) < 5 else "N"
            raise SettingsError(f"{setting}: {item!r} is not NAME={shown}")
        values[name.strip()] = value
    return values


def _modes(raw: str) -> dict[str, str]:
    return _per_projection("TANDEM_PROJECTION_MODES", raw, ("sync", "async"))


def _policies(raw: str) -> dict[str, str]:
    return _per_projection("TANDEM_POISON_POLICY", raw, ("fail", "park"))


def _partitions(raw: str) -> dict[str, int]:
    counts = [str(n) for n in range(1, 65)]
    return {k: int(v) for k, v in _per_projection("TANDEM_PARTITIONS", raw, counts).items()}


def _level(raw: str, *, services: bool) -> int:
    """The separation level: 1 (queries read the write tables), 2 (every SQLite read
    model in the write transaction, embedded only) or 3 (read stores fed by events)."""
    level = int(raw) if raw.strip().isdigit() else 0
    if level not in (1, 2, 3):
        raise SettingsError("TANDEM_LEVEL must be 1, 2 or 3")
    if services and level == 2:
        raise SettingsError(
            "TANDEM_LEVEL=2 puts SQLite read models in the write transaction: embedded"
            " profile only (use 1 or 3 on the services profile)"
        )
    return level


def _otel_exporter(raw: str) -> str | None:
    exporter = raw.strip().lower()
    return None if exporter in ("", "none") else exporter


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str | None = None
    level: int = 3
    admin_token: str | None = None
    modes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MODES))
    default_wait_ms: int = 2000
    max_wait_ms: int = 10000
    read_database_url: str | None = None
    redis_url: str | None = None
    nats_url: str | None = None
    redis_prefix: str = "tandem"
    nats_stream: str = "TANDEM_EVENTS"
    partitions: Mapping[str, int] = field(default_factory=dict)
    poison_policies: Mapping[str, str] = field(default_factory=dict)
    # `horizon` (the default) or `lock`: how PostgreSQL keeps positions in commit order.
    event_log_mode: str = "horizon"
    # `otlp` or `console` to export OpenTelemetry spans; None: no tracing.
    otel_exporter: str | None = None
    otel_service_name: str = "tandem"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("TANDEM_DATABASE_URL") or None
        services = url is not None and url.startswith(POSTGRES_SCHEMES)
        if url is not None and not services and not url.startswith("sqlite:///"):
            raise SettingsError(
                "TANDEM_DATABASE_URL must be sqlite:///PATH (embedded) or postgresql://… (services)"
            )
        level = _level(env.get("TANDEM_LEVEL", "3"), services=services)
        modes = dict(DEFAULT_MODES)
        modes.update(_modes(env.get("TANDEM_PROJECTION_MODES", "")))
        settings = cls(
            data_dir=Path(env.get("TANDEM_DATA_DIR", "./data")),
            database_url=url,
            level=level,
            admin_token=env.get("TANDEM_ADMIN_TOKEN") or None,
            modes=modes,
            read_database_url=env.get("TANDEM_READ_DATABASE_URL") or None,
            redis_url=env.get("TANDEM_REDIS_URL") or None,
            nats_url=env.get("TANDEM_NATS_URL") or None,
            redis_prefix=env.get("TANDEM_REDIS_PREFIX") or "tandem",
            nats_stream=env.get("TANDEM_NATS_STREAM") or "TANDEM_EVENTS",
            partitions=_partitions(env.get("TANDEM_PARTITIONS", "")),
            poison_policies=_policies(env.get("TANDEM_POISON_POLICY", "")),
            event_log_mode=env.get("TANDEM_EVENT_LOG_MODE", "horizon"),
            otel_exporter=_otel_exporter(env.get("TANDEM_OTEL_EXPORTER", "")),
            otel_service_name=env.get("TANDEM_OTEL_SERVICE_NAME") or "tandem",
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot run, naming the setting to fix."""
        self._check_projection_names()
        if not self.nats_stream.replace("_", "").replace("-", "").isalnum():
            raise SettingsError("TANDEM_NATS_STREAM: letters, digits, '_' and '-' only")
        if self.event_log_mode not in ("horizon", "lock"):
            raise SettingsError("TANDEM_EVENT_LOG_MODE must be horizon or lock")
        if self.otel_exporter not in (None, "otlp", "console"):
            raise SettingsError("TANDEM_OTEL_EXPORTER must be otlp, console or none")
        if not self.services or self.level == 1:
            # Level 1 reads the write database: no Redis, no read database needed.
            return
        missing = [
            name
            for name, value in (
                ("TANDEM_READ_DATABASE_URL", self.read_database_url),
                ("TANDEM_REDIS_URL", self.redis_url),
            )
            if not value
        ]
        if missing:
            raise SettingsError(f"the services profile needs {' and '.join(missing)}")

    def _check_projection_names(self) -> None:
        """A per-projection setting naming no projection (a typo) would be ignored."""
        from catalog.read_models.registry import projection_names

        known = projection_names()
        for setting, values in (
            ("TANDEM_PROJECTION_MODES", self.modes),
            ("TANDEM_POISON_POLICY", self.poison_policies),
            ("TANDEM_PARTITIONS", self.partitions),
        ):
            unknown = sorted(set(values) - known)
            if unknown:
                raise SettingsError(
                    f"{setting}: no projection is named {unknown[0]!r}"
                    f" (projections: {', '.join(sorted(known))})"
                )

    @property
    def nats_subjects(self) -> str:
        """Subjects of the event stream: `<this>.<aggregate type>`."""
        return f"tandem.{self.nats_stream.lower()}"

    @property
    def services(self) -> bool:
        """PostgreSQL write database: the services profile."""
        return self.database_url is not None and self.database_url.startswith(POSTGRES_SCHEMES)

    @property
    def write_database(self) -> Path:
        if self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "write.db"

    def policy_of(self, name: str) -> str:
        """What the projection does with an event that keeps failing: fail or park."""
        return self.poison_policies.get(name, "fail")

    def mode_of(self, name: str, *, can_sync: bool) -> str:
        if not can_sync:
            return "async"
        if self.level == 2:
            return "sync"
        return self.modes.get(name, "async")
