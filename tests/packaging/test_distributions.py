"""The two distributions: the toolkit's wheel, built from toolkit/pyproject.toml and
installed into a fresh virtualenv, brings none of the catalog's dependencies, and the
lending-library example runs there on SQLite; the catalog's wheel holds the catalog
alone and depends on the toolkit.

pip fetches the build backend and the two core dependencies from the package index
(or its cache): about 12 s here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What the catalog needs and the toolkit's core must not.
APP_ONLY = {
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "granian",
    "duckdb",
    "typer",
    "rich",
    "jinja2",
    "prometheus-client",
    "asyncpg",
    "redis",
    "nats-py",
}


def run(*args: str | Path, cwd: Path | None = None) -> str:
    # Nothing from this checkout on the path but what the wheel installs (and, for the
    # example, the working directory).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv, with nothing but pip."""
    path = tmp_path_factory.mktemp("packaging") / "venv"
    run(sys.executable, "-m", "venv", path)
    return path


def test_the_toolkit_wheel_installs_alone_and_runs_the_example(venv: Path, tmp_path: Path) -> None:
    pip = venv / "bin" / "pip"
    run(pip, "wheel", "--quiet", "--no-deps", "-w", tmp_path / "wheels", ROOT / "toolkit")
    (wheel,) = (tmp_path / "wheels").glob("tandem-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names}
    assert packages == {"tandem", wheel.name.split("-py3")[0] + ".dist-info"}
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/tandem").rglob("*.py")}
    assert sources == {n for n in names if n.endswith(".py")}
    assert "tandem/py.typed" in names

    run(pip, "install", "--quiet", wheel)
    installed = {
        line.split("==")[0].lower()
        for line in run(pip, "list", "--format=freeze").splitlines()
        if "==" in line
    }
    assert installed & APP_ONLY == set()
    assert {"tandem", "orjson", "structlog"} <= installed

    # The example from the repository's root, with the toolkit from the wheel alone.
    out = run(venv / "bin" / "python", "-m", "examples.library", cwd=ROOT)
    assert "{'title': 'Dune', 'lent_to': 'ada'} at version 2 (loan: 2)" in out
    probe = "import tandem; print(tandem.__file__)"
    assert str(venv) in run(venv / "bin" / "python", "-c", probe, cwd=tmp_path)


def test_the_catalog_wheel_holds_the_catalog_and_depends_on_the_toolkit(
    venv: Path, tmp_path: Path
) -> None:
    run(venv / "bin" / "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path, ROOT)
    (wheel,) = tmp_path.glob("tandem_catalog-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    info = wheel.name.split("-py3")[0] + ".dist-info"
    assert {n.split("/")[0] for n in names} == {"catalog", info}
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/catalog").rglob("*.py")}
    assert sources == {n for n in names if n.endswith(".py")}
    requires = archive.read(f"{info}/METADATA").decode().splitlines()
    assert "Requires-Dist: tandem[duckdb,metrics]==0.1.0" in requires
