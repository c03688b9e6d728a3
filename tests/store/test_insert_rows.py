"""`insert_rows` (the detector's bulk writes) stores exactly what SQLAlchemy's own INSERT stores,
skips a row whose key is taken, and with `update` overwrites the columns named; on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, bindparam, delete, insert, select, text

from services.store import EventRow, SeriesCount, SignalRow, Store, insert_rows, select_rows

EVENT = {"event_id": "ev-1", "report_key": "ridr/clin/r1", "source": "ridr", "area_code": "E08000035",
         "date": dt.date(2026, 3, 2), "substance_key": None, "substance_class": "nitazene",
         "payload": {"purity_percent": 12.5, "features": ["pinpoint pupils"], "novel": False,
                     "name": "N-pyrrolidino étonitazene", "nested": {"a": [1, None]}}}
SIGNAL = {"signal_id": "sig-1", "detector": "aberration", "method": "ears_c2",
          "substance_key": None, "substance_class": "nitazene", "area_code": "E08000035",
          "source": "ridr", "period_start": dt.date(2026, 3, 2), "period_end": dt.date(2026, 3, 8),
          "severity": "high", "payload": {"observed": 7.0}, "disposition": "pending",
          "reason": None, "alert_id": None,
          "detected_at": dt.datetime(2026, 3, 8, 10, 4, 5, 123456, tzinfo=dt.UTC),
          "published": False}


def _raw(engine: Engine, table: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}"))]


def test_rows_are_stored_as_sqlalchemy_stores_them(store: Store, raw_engine: Engine) -> None:
    for model, row in ((EventRow, EVENT), (SignalRow, SIGNAL)):
        table = model.__table__
        with store.session() as session:
            session.execute(insert(table), [row])
        theirs = _raw(raw_engine, table.name)
        with store.session() as session:
            session.execute(delete(table))
        with store.session() as session:
            insert_rows(session, table, [row])
        assert _raw(raw_engine, table.name) == theirs
        with store.session() as session:  # and read back through the model as written
            loaded = session.execute(select(*table.columns)).one()._asdict()
        assert loaded == row


def test_a_taken_key_is_skipped_or_updated(store: Store) -> None:
    counts = SeriesCount.__table__
    key = {"dimension": "class", "value": "nitazene", "area_code": "E08000035", "source": "ridr",
           "freq": "W", "period": dt.date(2026, 3, 2)}
    with store.session() as session:
        insert_rows(session, counts, [{**key, "count": 1}])
        insert_rows(session, counts, [{**key, "count": 5}])  # taken: skipped
    with store.session() as session:
        assert session.execute(select(counts.c.count)).scalar_one() == 1
        insert_rows(session, counts, [{**key, "count": 5}, {**key, "period": dt.date(2026, 3, 9),
                                                           "count": 2}], update=("count",))
    with store.session() as session:
        assert sorted(session.execute(select(counts.c.period, counts.c.count)).all()) == [
            (dt.date(2026, 3, 2), 5), (dt.date(2026, 3, 9), 2)]
        insert_rows(session, counts, [])  # nothing to write is not an error


def test_rows_are_read_as_sqlalchemy_reads_them(store: Store) -> None:
    # `select_rows` (the detector's bulk reads) against SQLAlchemy's own reading of one query:
    # dates parsed, bound parameters (dates among them) in their places, nothing else matched.
    counts = SeriesCount.__table__
    rows = [{"dimension": dimension, "value": "nitazene", "area_code": area, "source": "ridr",
             "freq": "W", "period": dt.date(2026, 3, 2) + dt.timedelta(weeks=week),
             "count": week + 1}
            for dimension in ("class", "substance") for area in ("E08000035", "E06000001")
            for week in range(6)]
    query = (select(counts.c.area_code, counts.c.period, counts.c.count)
             .where(counts.c.dimension == bindparam("dimension"),
                    counts.c.period >= bindparam("earliest", type_=counts.c.period.type),
                    counts.c.period <= bindparam("latest", type_=counts.c.period.type))
             .order_by(counts.c.area_code, counts.c.period))
    params = {"dimension": "class", "earliest": dt.date(2026, 3, 9),
              "latest": dt.date(2026, 3, 23)}
    with store.session() as session:
        insert_rows(session, counts, rows)
    with store.session() as session:
        theirs = [tuple(row) for row in session.execute(query, params)]
        ours = select_rows(session, query, params)
    assert ours == theirs
    assert ours == [(area, dt.date(2026, 3, 2) + dt.timedelta(weeks=week), week + 1)
                    for area in ("E06000001", "E08000035") for week in (1, 2, 3)]
