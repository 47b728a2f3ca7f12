"""The API app of one server process, configured from the environment.

`tandem serve` builds the app itself when it serves from its own process; server worker
processes (several uvicorn workers, or granian's) import `app_from_env` instead, with
the log level in `TANDEM_LOG_LEVEL`. Each process opens its own connections.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from catalog.api.servers import LOG_LEVEL
from catalog.bootstrap import build
from catalog.settings import Settings
from catalog.tokens import admin_token
from catalog.tokens.verifier import TokenVerifier


def build_app(settings: Settings, token: str) -> FastAPI:
    """The app around a (not yet started) catalog of the settings' profile."""
    from catalog.api.app import create_app

    return create_app(build(settings), TokenVerifier(token))


def app_from_env() -> FastAPI:
    """The app of a server worker process (the admin token exists by now)."""
    from catalog.api.orphans import die_with_parent
    from catalog.logging_setup import configure
    from tandem import tracing

    die_with_parent()
    configure(os.environ.get(LOG_LEVEL, "INFO").upper())
    settings = Settings.from_env()
    tracing.setup(settings.otel_exporter, settings.otel_service_name)
    token, _ = admin_token(settings.admin_token, settings.data_dir)
    return build_app(settings, token)
