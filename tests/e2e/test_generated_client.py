"""A client generated from the live OpenAPI document drives a flow on its own.

The server's `/openapi.json` goes through `openapi-python-client`; `tests/client/flow.py`
(written against the generated package only) must pass `mypy --strict` and then run
against the same server: typed reads, the consistency controls as parameters, typed
409 and 503 problems with their headers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import Deployment
from tests.support.server import ADMIN_TOKEN

FLOW = Path(__file__).resolve().parents[1] / "client" / "flow.py"
BIN = Path(sys.executable).parent


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_a_generated_client_drives_a_flow_typed(server: Deployment, tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{server.url}/openapi.json").content)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    package = tmp_path / "tandem_client"
    generated = _run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(package),
        ],
        env,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout

    typed = _run(
        # The generated package is checked as far as the flow uses it; what mypy would
        # say about its own insides is the generator's business.
        [str(BIN / "mypy"), "--strict", "--follow-imports=silent", "--no-incremental", str(FLOW)],
        {**env, "MYPYPATH": str(tmp_path)},
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr

    flow = _run(
        [sys.executable, str(FLOW), server.url, ADMIN_TOKEN], {**env, "PYTHONPATH": str(tmp_path)}
    )
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "flow passed" in flow.stdout
