"""Schema migrations (Alembic): bring a store's database up to the schema of the models.

`Store` calls `upgrade` when it opens; so does every replica of the scaled deployment, safely at
the same time (on PostgreSQL, an advisory lock lets one migrate while the others wait).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from services.store.db import StoreError, make_engine
from services.store.models import Base

MIGRATIONS = Path(__file__).with_name("migrations")
# The revision whose schema `Base.metadata.create_all` made before there were migrations.
INITIAL_REVISION = "0001"
# Its tables: a database made before migrations has these and no others.
INITIAL_TABLES = frozenset({"submission", "event", "series_count", "series_report", "sighting",
                            "signal", "alert", "audit"})
# What later migrations add to those tables (they run after an adopted database is stamped):
# not a difference from revision 0001.
ADDED_LATER = frozenset({
    ("index", "series_report", "ix_series_report_report"),  # 0004
    ("index", "signal", "ix_signal_outbox"),  # 0004
    ("index", "signal", "ix_signal_held"),  # 0005
    ("index", "alert", "ix_alert_unindexed"),  # 0007
    ("column", "submission", "record"),  # 0008
})
# pg_advisory_xact_lock key of schema changes: any constant shared by every replica.
_LOCK_KEY = 0x455753_5354  # "EWS" "ST"


class MigrationError(StoreError):
    """The database cannot be brought to the models' schema automatically."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, f"no migrations in {MIGRATIONS}"
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def lock(connection: Connection) -> None:
    """Start the migration's transaction holding the lock that serialises schema changes.

    PostgreSQL: a transaction-scoped advisory lock (DDL is transactional there). SQLite: the
    database's write lock (`BEGIN IMMEDIATE`; its DDL is transactional too, so a failed
    migration leaves nothing half done).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite begins transactions lazily, before the first DML only; begin one now, so
        # that the CREATE TABLEs are inside it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database at `target` (a URL or an engine) to `revision`.

    A database made by `create_all` before migrations existed is adopted (stamped with the
    initial revision) when its tables match that revision; otherwise `MigrationError`.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    wanted = head() if revision == "head" else revision
    try:
        with engine.begin() as connection:
            if current(connection) == wanted:  # the usual case: nothing to do, no lock taken
                return
            lock(connection)
            at = current(connection)  # again: another process may have migrated meanwhile
            if at == wanted:
                return
            if at is None:
                _adopt_unversioned(connection)
            command.upgrade(alembic_config(connection), revision)
    finally:
        if engine is not target:
            engine.dispose()


def schema_differences(connection: Connection, *, compare_type: bool = True,
                       tables: frozenset[str] | None = None) -> list[Any]:
    """What differs between the database and the models (Alembic's autogenerate diff).

    Args:
        tables: compare only these tables (default: all of the models').
    """
    opts: dict[str, Any] = {"compare_type": compare_type}
    if tables is not None:
        def include_object(obj: Any, name: str | None, type_: str, _reflected: bool,
                           _compare_to: Any) -> bool:
            table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
            return table is None or table in tables

        opts["include_object"] = include_object
    context = MigrationContext.configure(connection, opts=opts)
    return compare_metadata(context, Base.metadata)


def _added_later(difference: Any) -> bool:
    if isinstance(difference, tuple) and difference[0] == "add_column":
        return ("column", difference[2], difference[3].name) in ADDED_LATER
    if isinstance(difference, tuple) and difference[0] == "add_index":
        index = difference[1]
        return ("index", index.table.name, index.name) in ADDED_LATER
    return False


def _adopt_unversioned(connection: Connection) -> None:
    existing = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
    if not existing:
        return
    # SQLite's declared column types are affinities only (VARCHAR(300) and TEXT store alike):
    # compare tables, columns and indexes there, types too elsewhere.
    differences = [difference for difference in schema_differences(
        connection, compare_type=connection.dialect.name != "sqlite", tables=INITIAL_TABLES)
        if not _added_later(difference)]
    differences += [("add_table", name) for name in existing - INITIAL_TABLES]
    if differences:
        raise MigrationError(
            f"the database {connection.engine.url!r} has the store's tables but no migration "
            f"history, and differs from revision {INITIAL_REVISION}: {differences}; migrate it "
            "by hand and `alembic stamp` it (services/store/alembic.ini), or start from an empty "
            "database")
    command.stamp(alembic_config(connection), INITIAL_REVISION)
