"""Engine and sessions for the system of record (SQLite embedded, PostgreSQL scaled)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, Table, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from services.store.models import AlertComment, AuditEntry, DetailRead
from streams.sqlite_wal import use_wal

# Rows nobody may change or remove once written: the audit trails and review comments.
_APPEND_ONLY = (AuditEntry, AlertComment, DetailRead)

T = TypeVar("T")

# PostgreSQL's "try again" errors: serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class StoreError(Exception):
    """Root of the store's errors."""


class Store:
    """Owns the engine; hands out sessions. Create one per process.

    Opening a store brings its database up to the newest schema (Alembic migrations).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", _audit_entries_are_not_rewritten)
        event.listen(self._sessions, "do_orm_execute", _audit_statements_only_insert)
        from services.store.migrate import upgrade  # migrate imports this module

        upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    """An engine for a store URL: `sqlite:///PATH`, or `postgresql://...` (driven by psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # Timestamps come back in UTC whatever the server's or the client's time zone.
        return create_engine(parsed, pool_pre_ping=True,
                             connect_args={"options": "-c timezone=UTC"})
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class AuditIsAppendOnly(StoreError):
    """An audit entry may be added, never changed or removed."""


def _audit_entries_are_not_rewritten(session: Session, _flush: UOWTransaction,
                                     _instances: object) -> None:
    for entry in session.deleted:
        if isinstance(entry, _APPEND_ONLY):
            raise AuditIsAppendOnly(f"{entry.__tablename__} {entry.id} cannot be deleted: the "
                                    "audit trail is append-only")
    for entry in session.dirty:
        if isinstance(entry, _APPEND_ONLY) and session.is_modified(entry):
            raise AuditIsAppendOnly(f"{entry.__tablename__} {entry.id} cannot be changed: add a "
                                    "new entry instead")


def _audit_statements_only_insert(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(
            mapper.class_ in _APPEND_ONLY for mapper in state.all_mappers):
        raise AuditIsAppendOnly("UPDATE and DELETE of audit entries are refused: the audit trail "
                                "is append-only")


def engine_insert(engine: Engine):
    """The dialect's INSERT with ON CONFLICT support (SQLite and PostgreSQL both have it)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                update: Sequence[str] = ()) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`; a row whose primary key is taken
    is skipped, or with `update` sets those columns from it (ON CONFLICT ... DO UPDATE).

    On SQLite the rows go straight to the driver's executemany, each value through its column
    type's own bind processor (what SQLAlchemy itself would store): SQLAlchemy's executemany
    costs several times the statement's own work per row, and the detector writes every event,
    count and claim this way. Elsewhere, SQLAlchemy's INSERT ... ON CONFLICT.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        insert = engine_insert(connection.engine)(table)
        statement = (insert.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={name: insert.excluded[name] for name in update}) if update
            else insert.on_conflict_do_nothing())
        session.execute(statement, list(rows))
        return
    sql, processors = _raw_insert(connection.dialect, table, columns, tuple(update))
    connection.exec_driver_sql(sql, [
        tuple(value if process is None else process(value)
              for value, process in zip(map(row.__getitem__, columns), processors))
        for row in rows])


@functools.cache
def _raw_insert(dialect: Dialect, table: Table, columns: tuple[str, ...], update: tuple[str, ...]
                ) -> tuple[str, tuple[Callable[[Any], Any] | None, ...]]:
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
           f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT")
    if update:
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        sql += f" ({keys}) DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}"
                                                       for c in update)
    else:
        sql += " DO NOTHING"
    return sql, tuple(table.c[name].type._cached_bind_processor(dialect) for name in columns)


def select_rows(session: Session, statement: Select, params: Mapping[str, Any]) -> list[tuple]:
    """The rows of `statement` (its bound parameters named in `params`) as plain tuples.

    On SQLite, the read twin of `insert_rows`: the statement is compiled once and run on the
    driver's cursor, each value through its column type's result processor (dates are parsed
    once per distinct value). SQLAlchemy builds each row in Python, which cost more than
    SQLite's reading it where the detector reads a few hundred thousand counts a batch.
    Elsewhere, through SQLAlchemy.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return [tuple(row) for row in session.execute(statement, params)]
    sql, names, binds, results = _raw_select(connection.dialect, statement)
    cursor = connection.connection.cursor()
    try:
        rows = cursor.execute(sql, [params[name] if bind is None else bind(params[name])
                                    for name, bind in zip(names, binds, strict=True)]).fetchall()
    finally:
        cursor.close()
    # Column by column, only those with a processor (typically one date among text and numbers).
    for i, result in enumerate(results):
        if result is not None:
            rows = [(*row[:i], result(row[i]), *row[i + 1:]) for row in rows]
    return rows


@functools.cache
def _raw_select(dialect: Dialect, statement: Select) -> tuple[
        str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...],
        tuple[Callable[[Any], Any] | None, ...]]:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names)
    results = []
    for column in statement.selected_columns:
        result = column.type._cached_result_processor(dialect, None)
        results.append(None if result is None else functools.lru_cache(maxsize=1 << 16)(result))
    return compiled.string, names, binds, tuple(results)


class ConcurrentUpdateError(StoreError):
    """A change kept meeting concurrent changes to the same rows; nothing of it was committed."""


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, StaleDataError):
        return True
    if isinstance(exc, DBAPIError):
        if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        # SQLite answers a reader that wants to write while another connection writes with
        # "database is locked" at once, whatever the busy timeout: the same conflict, retried.
        return "database is locked" in str(exc.orig)
    return False


def retry_on_conflict(store: Store, fn: Callable[[Session], T], *, attempts: int = 5,
                      backoff: float = 0.01) -> T:
    """Run `fn(session)` in a transaction; when another writer got there first, re-read and redo.

    Optimistic locking (`AlertRow.version`) makes a commit over a stale read fail with
    `StaleDataError` instead of silently overwriting the other change. `fn` must therefore read
    what it changes through the session it is given, and be safe to run again: each attempt
    starts from a fresh transaction and sees the other writer's commit.

    Args:
        fn: reads and changes rows through the session; its return value is returned.
        attempts: tries in all before giving up.
        backoff: base of the randomised exponential pause between tries, in seconds.

    Raises:
        ConcurrentUpdateError: every attempt met a concurrent change (nothing was committed).
    """
    for attempt in range(1, attempts + 1):
        try:
            with store.session() as session:
                return fn(session)
        except (StaleDataError, DBAPIError) as exc:
            if not _is_conflict(exc):
                raise
            if attempt == attempts:
                raise ConcurrentUpdateError(
                    f"gave up after {attempts} attempts: the same rows kept changing underneath; "
                    "retry the request") from exc
            time.sleep(random.uniform(0, backoff * 2 ** min(attempt - 1, 6)))
    raise AssertionError("unreachable")
