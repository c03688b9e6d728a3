"""The flow's look-ups search indexes; none reads a whole table that grows with every report.

A table scan per batch makes the cost of a report grow with the reports before it (found at
scale: a row-value IN read every series count, and every submission of a source, on SQLite).
Every statement the accept path and the pipeline run on a simulated stream is explained by
SQLite.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from pathlib import Path

from sqlalchemy import event

from services.ingest import accept, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.simulate import iter_stream, simulate

# Tables whose rows grow with reports. (`alert` grows with alerts, a few hundred a year: the
# alert builder's open-alert and not-yet-indexed look-ups may read it whole.)
GROWING = ("event", "series_count", "series_report", "sighting", "signal", "submission")
SCAN = re.compile(r"\bSCAN (\w+)")


def test_accept_and_pipeline_statements_search_rather_than_scan(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(sim, seed=5, months=6, end=dt.date(2026, 6, 30), scale=0.2)
    system = EmbeddedSystem(Settings(data_dir=tmp_path / "ews"))
    statements: dict[str, tuple] = {}

    @event.listens_for(system.store.engine, "before_cursor_execute")
    def collect(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            statements.setdefault(statement, parameters)

    pipeline = Pipeline(system)
    stream = list(iter_stream(sim))
    for _day, items in itertools.groupby(stream, key=lambda item: item.arrival.date()):
        by_source = defaultdict(list)
        for index, (_arrival, source, record) in enumerate(items):
            by_source[source].append((index, validate(source, record)))
        for source, records in by_source.items():
            accept(system.store, system.transport, source, "plans", records, via="test")
        pipeline.drain()
    assert len(stream) > 1000 and len(statements) > 10

    scans: dict[str, list[str]] = {}
    with system.store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        for statement, parameters in statements.items():
            plan = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            growing = [t for line in plan for t in SCAN.findall(line) if t in GROWING]
            # A search on the key's first column alone reads every submission of a source.
            growing += [line for line in plan
                        if "SEARCH submission" in line and "report_id=" not in line]
            if growing:
                scans[" ".join(statement.split())[:300]] = plan
    system.close()
    assert not scans, "statements reading a growing table whole:\n" + "\n".join(
        f"{s}\n    {p}" for s, p in scans.items())
