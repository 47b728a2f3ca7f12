"""The public modules: every name they export imports, `import tandem` pulls in no
backend driver or application library, and a backend without its driver says which
extra installs it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = [
    "tandem",
    "tandem.middleware",
    "tandem.sqlite",
    "tandem.postgres",
    "tandem.redis",
    "tandem.nats",
    "tandem.duckdb",
    "tandem.testing",
]

NOT_AT_IMPORT = ["fastapi", "starlette", "duckdb", "jinja2", "asyncpg", "redis", "nats", "catalog"]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_imports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if name == "tandem.middleware":
        exported = ["validation", "idempotency", "timing", "consistency"]
    assert exported, f"{name} declares no __all__"
    missing = [n for n in exported if getattr(module, n, None) is None]
    assert not missing, f"{name} exports names it does not hold: {missing}"


def _imported_after(statement: str) -> set[str]:
    probe = (
        f"import sys; {statement}; "
        f"print(' '.join(n for n in {NOT_AT_IMPORT!r} if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def test_import_tandem_pulls_in_no_driver_or_web_library() -> None:
    assert _imported_after("import tandem") == set()


def test_the_sqlite_backend_pulls_in_no_driver_either() -> None:
    assert _imported_after("import tandem.sqlite, tandem.middleware") == set()


@pytest.mark.parametrize(
    ("module", "driver", "extra"),
    [
        ("tandem.postgres", "asyncpg", "postgres"),
        ("tandem.redis", "redis", "redis"),
        ("tandem.nats", "nats", "nats"),
        ("tandem.duckdb", "duckdb", "duckdb"),
    ],
)
def test_a_backend_without_its_driver_names_the_extra(module: str, driver: str, extra: str) -> None:
    # A module set to None in sys.modules cannot be imported: as if not installed.
    probe = (
        f"import sys; sys.modules[{driver!r}] = None\n"
        f"try:\n    import {module}\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    assert f"pip install 'tandem[{extra}]'" in out
    assert driver in out


def test_tandem_exports_exactly_the_names_it_imports_on_first_use() -> None:
    import tandem

    assert set(tandem.__all__) == {*tandem._HOMES, "__version__"}
    assert dir(tandem) == sorted(tandem.__all__)
