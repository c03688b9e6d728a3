"""Migrations build exactly the models' schema, on SQLite and PostgreSQL, and only once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import JSON, DateTime, Engine, MetaData, String, func, insert, inspect, select, text

from services.store import Base, Sighting, Store
from services.store.migrate import (
    ADDED_LATER,
    INITIAL_TABLES,
    MigrationError,
    alembic_config,
    current,
    head,
    schema_differences,
    upgrade,
)
from services.store.models import UTCDateTime


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        assert current(connection) == head()
        assert schema_differences(connection) == []
        tables = set(inspect(connection).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_nothing_and_up_again(store: Store, raw_engine: Engine) -> None:
    with raw_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    with raw_engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        assert current(connection) is None
    upgrade(raw_engine)
    with raw_engine.connect() as connection:
        assert current(connection) == head()
        assert schema_differences(connection) == []


def test_opening_a_migrated_database_again_keeps_its_rows(
        open_store: Callable[[], Store], store: Store) -> None:
    with store.session() as session:
        session.add(Sighting(substance_key="X" * 27, area_code="E08000025",
                             first_date=dt.date(2025, 1, 6), first_event_id="ev-1"))
    again = open_store()
    with again.session() as session:
        assert session.execute(select(func.count()).select_from(Sighting)).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def _schema_before_migrations() -> MetaData:
    """The tables as `create_all` made them before there were migrations: narrower VARCHARs,
    plain JSON and DateTime."""
    old = MetaData()
    for table in Base.metadata.tables.values():
        if table.name in INITIAL_TABLES:
            copy = table.to_metadata(old)
            # What later migrations added (0004, 0005, 0007, 0008) was not there.
            for kind, table_name, name in ADDED_LATER:
                if table_name != copy.name:
                    continue
                if kind == "column":
                    copy._columns.remove(copy.c[name])
                else:
                    copy.indexes.discard(next(i for i in copy.indexes if i.name == name))
    widened = {("submission", "submitter"): 200, ("submission", "via"): 300,
               ("event", "report_key"): 400, ("series_report", "report_key"): 400,
               ("alert", "title"): 300}
    for table in old.tables.values():
        for column in table.columns:
            if (table.name, column.name) in widened:
                column.type = String(widened[table.name, column.name])
            elif isinstance(column.type, JSON):
                column.type = JSON()
            elif isinstance(column.type, UTCDateTime):
                column.type = DateTime(timezone=True)
    return old


def test_database_made_before_migrations_is_adopted_where_its_types_allow(
        store_url: str, raw_engine: Engine, open_store: Callable[[], Store]) -> None:
    _schema_before_migrations().create_all(raw_engine)
    with raw_engine.begin() as connection:
        connection.execute(insert(Sighting.__table__).values(
            substance_key="X" * 27, area_code="*", first_date=dt.date(2025, 1, 6),
            first_event_id="ev-1"))
    if raw_engine.dialect.name != "sqlite":
        # Column types matter here: a guess would leave a VARCHAR(300) where TEXT belongs.
        with pytest.raises(MigrationError, match="differs from revision 0001"):
            open_store()
        return
    store = open_store()  # SQLite's column types are affinities: the tables are the same
    with store.engine.connect() as connection:
        assert current(connection) == head()
        assert schema_differences(connection, compare_type=False) == []
        assert connection.execute(select(func.count()).select_from(Sighting)).scalar_one() == 1
        assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())


def test_unversioned_database_unlike_the_models_is_refused(raw_engine: Engine,
                                                            store_url: str) -> None:
    with raw_engine.begin() as connection:
        connection.execute(text("CREATE TABLE alert (alert_id VARCHAR(40) PRIMARY KEY)"))
    with pytest.raises(MigrationError, match="no migration history"):
        Store(store_url)


def test_replicas_starting_together_migrate_once(open_store: Callable[[], Store],
                                                 raw_engine: Engine) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            open_store()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with raw_engine.connect() as connection:
        assert current(connection) == head()
        assert schema_differences(connection) == []

