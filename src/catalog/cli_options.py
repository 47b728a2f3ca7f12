"""Options that several `tandem` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

SERVER_URL = "http://127.0.0.1:8000"

ServerUrl = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="TANDEM_URL",
        show_envvar=True,
        help="The running server (the URL its clients use).",
    ),
]
"""The running server a command asks: `--url`, else `TANDEM_URL`, else `SERVER_URL`."""
