"""Trend counts for intelligence users: reports by area, region, substance, class, source,
setting (prisons apart) and week, perturbed so that no combination of queries reveals a small
count (services/api/trends/perturbation.py).

What is counted: accepted reports, from the normalised events (one per report and substance),
so no clinical field is ever read: only where, when, what substance and which input. A report
counts once per cell; when a dimension is substance or class, a report naming two substances
counts in both (so the unit is then "report-substance"), and a total counts what its cells
count (before perturbation: each published number is perturbed on its own, so published
totals need not be the sums of published cells).
Alerts are not counted here: intelligence users read the confirmed and published alerts
themselves at /v1/alerts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.api.csv_safety import formula_safe
from services.api.trends.perturbation import Perturber, publish
from services.geography import Geography
from services.store import EventRow

DIMENSIONS = ("area", "region", "substance", "class", "source", "setting", "custody", "week")
LEGEND = {"<5": "fewer than 5 (at least 1)",
          "numbers": "every count except 0 is perturbed, usually by 0 or 1 either way, the same "
                     "way every time the same reports are counted; so totals need not add up, and "
                     "no combination of tables reveals a small count"}


class TrendsInvalid(Exception):
    pass


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    area: str | None = None
    region: str | None = None
    source: str | None = None
    klass: str | None = None
    substance: str | None = None
    setting: str | None = None


@dataclass(frozen=True)
class _Event:
    report_key: str
    area: str
    region: str
    source: str
    date: dt.date
    substance: str
    klass: str
    setting: str


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _value(dimension: str, event: _Event) -> str:
    match dimension:
        case "area":
            return event.area
        case "region":
            return event.region
        case "substance":
            return event.substance
        case "class":
            return event.klass
        case "source":
            return event.source
        case "setting":
            return event.setting
        case "custody":
            return "prison" if event.setting == "prison" else "not_prison"
        case "week":
            return _monday(event.date).isoformat()
    raise TrendsInvalid(f"dimension {dimension!r}: expected one of {', '.join(DIMENSIONS)}")


def _label(dimension: str, value: str, geography: Geography) -> str:
    if dimension == "area" and value in geography.areas:
        return geography.areas[value].name
    if dimension == "region":
        return geography.regions.get(value, value) if geography.regions else value
    return value


def _events(store: Any, geography: Geography, filters: Filters) -> list[_Event]:
    setting = EventRow.payload["setting"].as_string()
    name = EventRow.payload["substance_name"].as_string()
    stmt = select(EventRow.report_key, EventRow.area_code, EventRow.source, EventRow.date,
                  EventRow.substance_key, EventRow.substance_class, name, setting)
    if filters.date_from:
        stmt = stmt.where(EventRow.date >= filters.date_from)
    if filters.date_to:
        stmt = stmt.where(EventRow.date <= filters.date_to)
    if filters.area:
        stmt = stmt.where(EventRow.area_code == filters.area)
    if filters.source:
        stmt = stmt.where(EventRow.source == filters.source)
    if filters.klass:
        stmt = stmt.where(EventRow.substance_class == filters.klass)
    if filters.setting:
        stmt = stmt.where(setting == filters.setting)
    out = []
    with store.session() as session:
        for key, area, source, date, skey, klass, sname, where in session.execute(stmt):
            region = geography.region_of(area) or "unknown"
            if filters.region and region != filters.region:
                continue
            substance = sname or skey or "unidentified"
            if filters.substance and substance.lower() != filters.substance.lower():
                continue
            out.append(_Event(key, area, region, source, date, substance, klass or "unclassified",
                              where or "unknown"))
    return out


def trends(store: Any, geography: Geography, *, rows: str, cols: str | None,
           filters: Filters, perturber: Perturber, max_rows: int = 2000) -> dict[str, Any]:
    """A perturbed table of report counts: `rows` x `cols` (or `rows` alone) with totals."""
    for dimension in (rows, cols):
        if dimension is not None and dimension not in DIMENSIONS:
            raise TrendsInvalid(f"dimension {dimension!r}: expected one of {', '.join(DIMENSIONS)}")
    if cols == rows:
        raise TrendsInvalid("rows and columns must be different dimensions")
    reports: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in _events(store, geography, filters):
        column = _value(cols, event) if cols else "count"
        reports[(_value(rows, event), column)].add(event.report_key)
    row_keys = sorted({r for r, _ in reports})
    col_keys = sorted({c for _, c in reports}) if cols else ["count"]
    if len(row_keys) > max_rows or len(col_keys) > max_rows:
        raise TrendsInvalid(f"{len(row_keys)} x {len(col_keys)} is too large a table: narrow it "
                            "with from/to or a filter")
    # Each number's true count and cell key; a total's are its cells' summed (a multiset).
    keyed = {cell: (len(keys), perturber.cell_key(keys)) for cell, keys in reports.items()}

    def combined(cells: list[tuple[str, str]]) -> dict[str, Any]:
        parts = [keyed[cell] for cell in cells if cell in keyed]
        return publish(sum(n for n, _ in parts), sum(k for _, k in parts) & (2**64 - 1),
                       perturber).as_dict()

    unit = "report-substance" if {"substance", "class"} & {rows, cols} else "report"
    return {
        "rows_by": rows, "cols_by": cols, "unit": unit,
        "filters": {k: (v.isoformat() if isinstance(v, dt.date) else v)
                    for k, v in filters.__dict__.items() if v is not None},
        "rows": [{"key": r, "label": _label(rows, r, geography)} for r in row_keys],
        "cols": [{"key": c, "label": _label(cols, c, geography) if cols else "count"} for c in col_keys],
        "cells": [[combined([(r, c)]) for c in col_keys] for r in row_keys],
        "row_totals": [combined([(r, c) for c in col_keys]) for r in row_keys] if cols else None,
        "col_totals": [combined([(r, c) for r in row_keys]) for c in col_keys] if row_keys else [],
        "total": combined(list(keyed)),
        "legend": LEGEND,
    }


def as_csv(result: dict[str, Any]) -> str:
    """The table as CSV: a header of column labels, one line per row, then the totals."""
    buffer = io.StringIO()
    # RFC 4180 line ends: with "\n" alone, a cell holding "\r" went out unquoted and split its row.
    writer = csv.writer(buffer, lineterminator="\r\n")

    def write(cells: list[Any]) -> None:
        writer.writerow([formula_safe(cell) for cell in cells])

    two_way = result["row_totals"] is not None
    header = [result["rows_by"]] + [c["label"] if result["cols_by"] != "area" else
                                    f"{c['label']} ({c['key']})" for c in result["cols"]]
    write(header + (["total"] if two_way else []))
    for index, row in enumerate(result["rows"]):
        label = row["label"] if row["label"] == row["key"] else f"{row['label']} ({row['key']})"
        line = [label] + [cell["display"] for cell in result["cells"][index]]
        if two_way:
            line.append(result["row_totals"][index]["display"])
        write(line)
    footer = ["total"] + [cell["display"] for cell in result["col_totals"]]
    if two_way:
        footer.append(result["total"]["display"])
    write(footer)
    return buffer.getvalue()
