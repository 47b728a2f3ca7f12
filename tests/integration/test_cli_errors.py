"""What the `tandem` command says when it cannot run: one line, no traceback, and an exit
code a script can test (2 for a bad setting); the real command, as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.deployment import ServicesDeployment
from tests.support.server import Server, free_port


def tandem(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catalog", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command's only line on standard error (and no traceback anywhere)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    return {**base, "TANDEM_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160"}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TANDEM_LEVEL", "7"),
        ("TANDEM_EVENT_LOG_MODE", "sometimes"),
        ("TANDEM_DATABASE_URL", "mysql://db/shop"),
        ("TANDEM_POISON_POLICY", "nope=park"),
        ("TANDEM_PROJECTION_MODES", "nope=async"),
        ("TANDEM_PARTITIONS", "nope=2"),
        ("TANDEM_POISON_POLICY", "=park"),
    ],
)
@pytest.mark.parametrize(
    "command", [("seed", "--products", "1"), ("status", "--url", "http://127.0.0.1:9")]
)
def test_a_bad_setting_is_one_line_naming_it_and_exit_code_2(
    env: dict[str, str], setting: str, value: str, command: tuple[str, ...]
) -> None:
    done = tandem({**env, setting: value}, *command)
    assert done.returncode == 2, done.stderr
    assert setting in one_line(done)
    assert not (Path(env["TANDEM_DATA_DIR"]) / "write.db").exists()


@pytest.mark.parametrize("command", ["migrate", "worker", "relay"])
def test_services_commands_name_the_setting_they_need(env: dict[str, str], command: str) -> None:
    done = tandem(env, command)  # no TANDEM_DATABASE_URL: the embedded profile
    assert done.returncode == 2, done.stderr
    assert "TANDEM_DATABASE_URL" in one_line(done)


def test_an_unreachable_database_is_one_line_naming_it_without_the_password(
    env: dict[str, str],
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://shop:s3cret-pw@127.0.0.1:{port}/shop_write"
    services = {
        **env,
        "TANDEM_DATABASE_URL": url,
        "TANDEM_READ_DATABASE_URL": url.replace("shop_write", "shop_read"),
        "TANDEM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    for command in (("migrate",), ("status", "--url", "http://127.0.0.1:9")):
        done = tandem(services, *command)
        assert done.returncode == 1, done.stderr
        line = one_line(done)
        assert "PostgreSQL" in line
        assert f"127.0.0.1:{port}" in line
        assert "shop_write" in line
        assert "s3cret" not in done.stdout + done.stderr


def test_status_finds_the_server_the_url_setting_names(env: dict[str, str]) -> None:
    server = Server(Path(env["TANDEM_DATA_DIR"]))
    server.start()
    try:
        by_setting = tandem({**env, "TANDEM_URL": server.url}, "status")
        by_option = tandem(env, "status", "--url", server.url)
    finally:
        server.stop()
    for done in (by_setting, by_option):
        assert done.returncode == 0, done.stderr
        assert "product_detail" in done.stdout
        assert "offline" not in done.stdout


def test_commands_on_a_data_directory_a_server_holds_explain_the_lock(
    env: dict[str, str],
) -> None:
    data = Path(env["TANDEM_DATA_DIR"])
    server = Server(data)
    server.start()
    try:
        # No server answers at the URL, so status reads the data directory itself.
        status = tandem(env, "status", "--url", f"http://127.0.0.1:{free_port()}")
        seed = tandem(env, "seed", "--products", "5")
    finally:
        server.stop()
    for done in (status, seed):
        assert done.returncode != 0, done.stdout + done.stderr
        line = one_line(done)
        assert str(data) in line
        assert "in use" in line and "PID " in line


@pytest.mark.services
def test_an_unreachable_redis_or_nats_is_named_in_one_line(tmp_path: Path) -> None:
    deployment = ServicesDeployment(tmp_path / "data")
    deployment.prepare()  # migrated databases on the machine's PostgreSQL
    try:
        redis_port, nats_port = free_port(), free_port()  # nothing listens there
        env = {**deployment.env, "TANDEM_REDIS_URL": f"redis://:s3cret@127.0.0.1:{redis_port}/3"}
        done = tandem(env, "status", "--url", "http://127.0.0.1:9")
        assert done.returncode == 1, done.stderr
        line = one_line(done)
        assert f"Redis at 127.0.0.1:{redis_port}, database 3" in line
        assert "s3cret" not in done.stdout + done.stderr
        # A relay waits for its NATS server, saying so in one line per attempt.
        env["TANDEM_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
        relay = subprocess.Popen(
            [sys.executable, "-m", "catalog", "relay"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            output, _ = relay.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            relay.terminate()
            output, _ = relay.communicate(timeout=15)
        assert "Traceback" not in output
        attempts = [line for line in output.splitlines() if "cannot reach NATS" in line]
        assert attempts and all(f"127.0.0.1:{nats_port}" in line for line in attempts), output
    finally:
        deployment.stop()
