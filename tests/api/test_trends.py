"""Trend counts for intelligence users: small counts suppressed, and not recoverable from totals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.optimize import linprog

from services.api.app import create_app
from services.api.trends.suppression import Protected, protect
from services.pipeline import EmbeddedSystem
from services.store import EventRow
from tests.api.helpers import BIRMINGHAM, COVENTRY, HARTLEPOOL, Accounts, make_accounts

# --- the suppression itself ---------------------------------------------------------------


def _published(table: Protected, one_way: bool) -> tuple[list[tuple], dict, np.ndarray]:
    """The cells (interior and totals) and the equations an attacker knows hold between them."""
    m = len(table.cells)
    n = len(table.cells[0]) if m else 1
    cells: dict[tuple, object] = {("cell", i, j): table.cells[i][j] for i in range(m) for j in range(n)}
    cells.update({("col", j): table.col_totals[j] for j in range(n)})
    if not one_way:
        cells.update({("row", i): table.row_totals[i] for i in range(m)})  # type: ignore[index]
        cells[("total",)] = table.total
    keys = list(cells)
    at = {key: k for k, key in enumerate(keys)}
    equations = []
    for j in range(n):
        equation = np.zeros(len(keys))
        for i in range(m):
            equation[at["cell", i, j]] = 1
        equation[at["col", j]] = -1
        equations.append(equation)
    if not one_way:
        for i in range(m):
            equation = np.zeros(len(keys))
            for j in range(n):
                equation[at["cell", i, j]] = 1
            equation[at["row", i]] = -1
            equations.append(equation)
        equation = np.zeros(len(keys))
        for j in range(n):
            equation[at["col", j]] = 1
        equation[at["total",]] = -1
        equations.append(equation)
    return keys, cells, np.array(equations)


def recoverable(counts: list[list[int]], one_way: bool = False) -> list[tuple]:
    """Small counts an attacker can pin down: for each, the least and greatest value it can
    take given every published cell and total, the equations between them, that each "<5" is
    1 to 4 and that each "*" is 0 or more (linear programming, as tau-ARGUS audits a table)."""
    table = protect(counts, one_way=one_way)
    keys, cells, equations = _published(table, one_way)
    bounds = []
    for key in keys:
        cell = cells[key]
        shown = cell.display()  # type: ignore[attr-defined]
        bounds.append((1, 4) if shown == "<5" else (0, None) if shown == "*"
                      else (int(shown), int(shown)))
    pinned = []
    for k, key in enumerate(keys):
        if cells[key].status != "primary":  # type: ignore[attr-defined]
            continue
        objective = np.zeros(len(keys))
        objective[k] = 1
        low = linprog(objective, A_eq=equations, b_eq=np.zeros(len(equations)), bounds=bounds)
        high = linprog(-objective, A_eq=equations, b_eq=np.zeros(len(equations)), bounds=bounds)
        assert low.status == 0 and high.status == 0, "the true table must be feasible"
        if -high.fun - low.fun < 1e-6:
            pinned.append((key, cells[key].value))  # type: ignore[attr-defined]
    return pinned


def test_small_counts_are_shown_as_less_than_five() -> None:
    table = protect([[0, 3, 12], [7, 9, 30]])
    assert [c.display() for c in table.cells[0]][:2] == ["0", "<5"]
    assert table.cells[1][0].display() == "7"  # the cheapest cycle leaves this one alone
    hidden = [c for row in table.cells for c in row if c.hidden] + [
        c for c in (*table.row_totals, *table.col_totals, table.total) if c.hidden]  # type: ignore[misc]
    assert len(hidden) >= 4  # one primary needs three more cells around it, in a cycle


@pytest.mark.parametrize("seed", range(6))
def test_no_small_count_can_be_recovered_from_the_published_cells_and_totals(seed: int) -> None:
    """Property: for random tables of small and large counts, one-way and two-way, no cell of
    1-4 is pinned down by what is published."""
    rng = random.Random(seed)
    for _ in range(60):
        one_way = rng.random() < 0.3
        m, n = rng.randint(1, 7), 1 if one_way else rng.randint(1, 7)
        values = rng.choice([[0, 0, 1, 2, 3, 4, 5, 7, 12, 30], [0, 1, 1, 2, 9], [1, 2, 3, 4, 40]])
        counts = [[rng.choice(values) for _ in range(n)] for _ in range(m)]
        assert recoverable(counts, one_way) == [], (counts, one_way)


def test_a_table_without_small_counts_is_shown_whole() -> None:
    table = protect([[5, 6], [0, 9]])
    assert not any(c.hidden for row in table.cells for c in row)
    assert table.total.display() == "20"


def test_a_lone_small_count_in_a_one_way_table_takes_the_next_smallest_with_it() -> None:
    table = protect([[3], [6], [40]], one_way=True)
    assert [c.display() for row in table.cells for c in row] == ["<5", "*", "40"]
    assert table.total.display() == "49"


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def accounts(system: EmbeddedSystem) -> Accounts:
    return make_accounts(system)


def _events(system: EmbeddedSystem, specs: list[tuple[str, str, str, str, int]]) -> None:
    """(area, source, class, setting, how many reports), all in one week."""
    monday = dt.date(2026, 3, 2)
    n = 0
    with system.store.session() as session:
        for area, source, klass, setting, count in specs:
            for _ in range(count):
                n += 1
                session.add(EventRow(
                    event_id=f"ev-{n}", report_key=f"{source}/clin/r-{n}", source=source,
                    area_code=area, date=monday + dt.timedelta(days=n % 7), substance_key=None,
                    substance_class=klass,
                    payload={"setting": setting, "substance_name": klass, "severity": "fatal",
                             "clinical_features": ["seizure"], "narrative": "found collapsed"}))


def test_trends_table_suppression_and_csv(system: EmbeddedSystem, accounts: Accounts) -> None:
    _events(system, [(BIRMINGHAM, "ridr", "nitazene", "community", 12),
                     (BIRMINGHAM, "forensic", "nitazene", "prison", 2),
                     (COVENTRY, "ridr", "nitazene", "community", 7),
                     (COVENTRY, "forensic", "nitazene", "prison", 9),
                     (HARTLEPOOL, "ridr", "synthetic_cannabinoid", "prison", 6),
                     (HARTLEPOOL, "forensic", "synthetic_cannabinoid", "prison", 8)])
    api = TestClient(create_app(system))
    intel = accounts.headers("intelligence")
    table = api.get("/v1/trends", params={"rows": "area", "cols": "source"}, headers=intel).json()
    assert [r["label"] for r in table["rows"]] == ["Hartlepool", "Birmingham", "Coventry"]
    assert [c["key"] for c in table["cols"]] == ["forensic", "ridr"]
    birmingham = table["cells"][1]
    assert birmingham[0] == {"count": None, "display": "<5", "suppressed": "primary"}
    assert sum(1 for row in table["cells"] for c in row if c["suppressed"] == "secondary") >= 1
    shown = [c["count"] for row in table["cells"] for c in row if c["count"] is not None]
    assert all(c == 0 or c >= 5 for c in shown)
    text = json.dumps(table)
    assert "narrative" not in text and "collapsed" not in text and "seizure" not in text

    prisons = api.get("/v1/trends", params={"rows": "custody"}, headers=intel).json()
    assert {r["key"]: c[0]["display"] for r, c in zip(prisons["rows"], prisons["cells"])} == {
        "not_prison": "19", "prison": "25"}
    only = api.get("/v1/trends", params={"rows": "class", "setting": "prison", "area": BIRMINGHAM},
                   headers=intel).json()
    assert only["cells"] == [[{"count": None, "display": "<5", "suppressed": "primary"}]]
    assert only["total"]["display"] == "*"  # a small total says even less than "<5"

    exported = api.get("/v1/trends.csv", params={"rows": "area", "cols": "source"}, headers=intel)
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["area", "forensic", "ridr", "total"]
    assert rows[2][0] == f"Birmingham ({BIRMINGHAM})" and rows[2][1] == "<5"
    assert rows[-1][0] == "total"
    by_week = api.get("/v1/trends", params={"rows": "week", "cols": "region"}, headers=intel).json()
    assert by_week["rows"] == [{"key": "2026-03-02", "label": "2026-03-02"}]
    bad = api.get("/v1/trends", params={"rows": "narrative"}, headers=intel)
    assert bad.status_code == 422
