"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_MODES = {"product_detail": "sync", "cart_view": "sync"}
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MIN_HEAD_BYTES = 8192


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


# A configured admin token holds every scope: long and varied enough not to be guessed.
MIN_ADMIN_TOKEN_LENGTH = 32
MIN_ADMIN_TOKEN_DISTINCT = 12


def _admin_token(raw: str) -> str | None:
    """TANDEM_ADMIN_TOKEN, refused when it is short, repetitive, or has spaces or control
    characters (the message never repeats the value)."""
    if not raw:
        return None
    if (
        len(raw) < MIN_ADMIN_TOKEN_LENGTH
        or len(set(raw)) < MIN_ADMIN_TOKEN_DISTINCT
        or not all(ch.isprintable() and not ch.isspace() for ch in raw)
    ):
        raise SettingsError(
            f"TANDEM_ADMIN_TOKEN is too weak: use at least {MIN_ADMIN_TOKEN_LENGTH} printable"
            f" characters without spaces, {MIN_ADMIN_TOKEN_DISTINCT} or more of them different"
            " (e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return raw


def _count(
    env: Mapping[str, str], name: str, default: int, *, low: int = 1, high: int | None = None
) -> int:
    """A whole number from `env[name]` (`default` when unset), from `low` up to `high`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if (
        not (raw.isascii() and raw.isdigit())
        or int(raw) < low
        or (high is not None and int(raw) > high)
    ):
        bounds = (
            "a positive whole number"
            if low == 1 and high is None
            else (f"a whole number from {low} to {high}")
        )
        raise SettingsError(f"{name} must be {bounds}, not {raw!r}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive duration in seconds (decimals allowed) from `env[name]`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise SettingsError(f"{name} must be a number of seconds above 0, not {raw!r}")
    return value


def _otel_exporter(raw: str) -> str | None:
    exporter = raw.strip().lower()
    return None if exporter in ("", "none") else exporter


NATS_SCHEMES = ("nats", "tls")


def _check_nats_urls(raw: str) -> None:
    """`TANDEM_NATS_URL`: one server, or a cluster's servers separated by commas."""
    for number, part in enumerate(raw.split(","), 1):
        try:
            parts = urlsplit(part.strip())
            port = parts.port
        except ValueError:
            parts, port = None, 0
        if parts is None or parts.scheme not in NATS_SCHEMES or not parts.hostname or port == 0:
            # The URL itself is not repeated: it may hold a password.
            raise SettingsError(
                "TANDEM_NATS_URL must be nats://HOST:PORT, or several separated by commas"
                f" (the servers of a cluster); URL {number} is not"
            )


def default_read_pool_size() -> int:
    """Two read connections per core, at least four.

    Every connection runs its search on the database's cores, so past a couple per core
    more of them add no throughput: a search then shares its core with more others and
    the slowest take longer. On two cores, with 16 searches at a time, four connections
    answered as many searches as ten (about 1,400 a second), with a p99 of 20-21 ms
    instead of 23-30 ms.
    """
    return max(4, 2 * (os.cpu_count() or 2))


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
    # Servers that keep the stream and its consumers (3 on a 3-node cluster).
    nats_replicas: int = 1
    partitions: Mapping[str, int] = field(default_factory=dict)
    poison_policies: Mapping[str, str] = field(default_factory=dict)
    # `horizon` (the default) or `lock`: how PostgreSQL keeps positions in commit order.
    event_log_mode: str = "horizon"
    # `otlp` or `console` to export OpenTelemetry spans; None: no tracing.
    otel_exporter: str | None = None
    otel_service_name: str = "tandem"
    # The largest event the log takes (data as JSON plus type, aggregate and ids).
    max_event_bytes: int = 256 * 1024
    # Connection limits of `tandem serve` (see `catalog.api.servers`).
    max_head_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_concurrency: int = 256
    max_streams: int = 256
    max_streams_per_client: int = 8
    # Failed authentications one client address may make per window before it is
    # answered 429 (per API process; 0: never held back), and the window in seconds.
    auth_failures: int = 20
    auth_failure_window: int = 60
    # Connections each API process keeps to the read database (services).
    read_pool_size: int = field(default_factory=default_read_pool_size)

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
            admin_token=_admin_token(env.get("TANDEM_ADMIN_TOKEN", "")),
            modes=modes,
            read_database_url=env.get("TANDEM_READ_DATABASE_URL") or None,
            redis_url=env.get("TANDEM_REDIS_URL") or None,
            nats_url=env.get("TANDEM_NATS_URL") or None,
            redis_prefix=env.get("TANDEM_REDIS_PREFIX") or "tandem",
            nats_stream=env.get("TANDEM_NATS_STREAM") or "TANDEM_EVENTS",
            nats_replicas=_count(env, "TANDEM_NATS_REPLICAS", cls.nats_replicas, high=5),
            partitions=_partitions(env.get("TANDEM_PARTITIONS", "")),
            poison_policies=_policies(env.get("TANDEM_POISON_POLICY", "")),
            event_log_mode=env.get("TANDEM_EVENT_LOG_MODE", "horizon"),
            otel_exporter=_otel_exporter(env.get("TANDEM_OTEL_EXPORTER", "")),
            otel_service_name=env.get("TANDEM_OTEL_SERVICE_NAME") or "tandem",
            max_event_bytes=_count(env, "TANDEM_MAX_EVENT_BYTES", cls.max_event_bytes),
            max_head_bytes=_count(env, "TANDEM_MAX_HEAD_BYTES", cls.max_head_bytes),
            header_timeout=_seconds(env, "TANDEM_HEADER_TIMEOUT", cls.header_timeout),
            keepalive_timeout=_seconds(env, "TANDEM_KEEPALIVE_TIMEOUT", cls.keepalive_timeout),
            max_concurrency=_count(env, "TANDEM_MAX_CONCURRENCY", cls.max_concurrency),
            max_streams=_count(env, "TANDEM_MAX_STREAMS", cls.max_streams),
            max_streams_per_client=_count(
                env, "TANDEM_MAX_STREAMS_PER_CLIENT", cls.max_streams_per_client
            ),
            auth_failures=_count(env, "TANDEM_AUTH_FAILURES", cls.auth_failures, low=0, high=10**9),
            auth_failure_window=_count(
                env, "TANDEM_AUTH_FAILURE_WINDOW", cls.auth_failure_window, high=86400
            ),
            read_pool_size=_count(
                env, "TANDEM_READ_POOL_SIZE", default_read_pool_size(), high=1000
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot run, naming the setting to fix."""
        self._check_projection_names()
        if not self.nats_stream.replace("_", "").replace("-", "").isalnum():
            raise SettingsError("TANDEM_NATS_STREAM: letters, digits, '_' and '-' only")
        if self.nats_url is not None:
            _check_nats_urls(self.nats_url)
        if self.event_log_mode not in ("horizon", "lock"):
            raise SettingsError("TANDEM_EVENT_LOG_MODE must be horizon or lock")
        if self.otel_exporter not in (None, "otlp", "console"):
            raise SettingsError("TANDEM_OTEL_EXPORTER must be otlp, console or none")
        if self.max_head_bytes < MIN_HEAD_BYTES:
            # granian's HTTP/1 read buffer cannot be smaller.
            raise SettingsError(f"TANDEM_MAX_HEAD_BYTES must be at least {MIN_HEAD_BYTES}")
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
