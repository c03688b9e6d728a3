"""Small counts across queries (issue 8, point 3): a property test that no combination of
trends queries (groupings, filters, totals, overlapping date ranges, and their differences) lets
an attacker work out a count of 1-4.

The attacker model, as tau-ARGUS audits one table, extended to every table of the session:
the unknowns are the counts of the finest cells any query can tell apart (area x source x day x
class x setting); every published number bounds a sum of them. The attacker knows the method
(services/api/trends/perturbation.py) but not the secret, and takes the noise to be within
NOISE_BOUND, which it exceeds once in 10,000 numbers: a shown p is p - NOISE_BOUND .. p +
NOISE_BOUND (and at least 1), a "<5" is 1 .. 4 + NOISE_BOUND, a "0" is 0. A count is disclosed
when linear programming pins it to one value of 1-4: a published "<5" cell, or an atom (the
reports that every query puts on the same side, e.g. the day a date range adds to another).
Per-table suppression failed this test (an area's total minus its nitazene count is its one
other report); perturbation by cell key passes it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from services.api.trends import service
from services.api.trends.perturbation import ALPHA, Perturber
from services.pipeline import EmbeddedSystem
from services.store import EventRow

AREAS = ("E08000025", "E08000026", "E06000001")  # two in the West Midlands, one in the North East
SOURCES = ("ridr", "forensic")
CLASSES = ("nitazene", "synthetic_cannabinoid")
SETTINGS = ("prison", "community")
MONDAY = dt.date(2026, 3, 2)
DAYS = tuple(MONDAY + dt.timedelta(days=d) for d in (0, 3, 7, 10, 14))  # three weeks
MICRO = list(itertools.product(AREAS, SOURCES, DAYS, CLASSES, SETTINGS))
DIMENSIONS = ("area", "region", "source", "class", "setting", "custody", "week")
# The least k with P(|noise| > k) = 2 ALPHA**(k + 1) / (1 + ALPHA) under 1 in 10,000.
NOISE_BOUND = next(k for k in range(1, 100) if 2 * ALPHA ** (k + 1) / (1 + ALPHA) < 1e-4)
PERTURBER = Perturber(b"a fixed secret, so that the examples are the same every run")


@dataclass(frozen=True)
class Query:
    rows: str
    cols: str | None
    filters: service.Filters


def _matches(micro: tuple, filters: service.Filters, geography) -> bool:
    area, source, day, klass, setting = micro
    return ((filters.date_from is None or day >= filters.date_from)
            and (filters.date_to is None or day <= filters.date_to)
            and (filters.area is None or area == filters.area)
            and (filters.region is None or geography.region_of(area) == filters.region)
            and (filters.source is None or source == filters.source)
            and (filters.klass is None or klass == filters.klass)
            and (filters.setting is None or setting == filters.setting))


def _key(dimension: str, micro: tuple, geography) -> str:
    area, source, day, klass, setting = micro
    return {"area": area, "region": geography.region_of(area), "source": source, "class": klass,
            "setting": setting, "custody": "prison" if setting == "prison" else "not_prison",
            "week": (day - dt.timedelta(days=day.weekday())).isoformat()}[dimension]


def _published(result: dict, query: Query, geography) -> list[tuple[set[int], str, int | None]]:
    """(micro-cells summed, display, count) of every number the table publishes."""
    rows = [r["key"] for r in result["rows"]]
    cols = [c["key"] for c in result["cols"]]
    inside = [m for m, micro in enumerate(MICRO) if _matches(micro, query.filters, geography)]

    def group(row: str | None, col: str | None) -> set[int]:
        return {m for m in inside
                if (row is None or _key(query.rows, MICRO[m], geography) == row)
                and (col is None or query.cols is None or _key(query.cols, MICRO[m], geography) == col)}

    out: list = []
    if not rows:
        return []
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            out.append((group(row, col), result["cells"][i][j]))
        if result["row_totals"]:
            out.append((group(row, None), result["row_totals"][i]))
    for j, col in enumerate(cols):
        out.append((group(None, col), result["col_totals"][j]))
    out.append((group(None, None), result["total"]))
    return [(cells, cell["display"], cell["count"]) for cells, cell in out]


def disclosed(counts: list[int], published: list[tuple[set[int], str, int | None]],
              bound: int = NOISE_BOUND) -> list:
    """Groups of reports whose count (1-4) the published numbers pin down exactly."""
    n = len(MICRO)
    equations, lower, upper = [], [], []
    for cells, display, count in published:
        row = np.zeros(n)
        row[list(cells)] = 1
        if display == "<5":
            equations.append((row, 1, 4 + bound))
        elif count == 0:
            equations.append((row, 0, 0))
        else:
            equations.append((row, max(1, count - bound), count + bound))
    if not equations:
        return []
    a = np.array([row for row, _, _ in equations])
    lower = np.array([lo for _, lo, _ in equations], dtype=float)
    upper = np.array([hi for _, _, hi in equations], dtype=float)
    a_ub, b_ub = np.vstack([a, -a]), np.concatenate([upper, -lower])
    # Atoms: micro-cells that every published group puts on the same side.
    signature: dict[tuple, set[int]] = {}
    for m in range(n):
        signature.setdefault(tuple(m in cells for cells, _, _ in published), set()).add(m)
    targets = [cells for cells, display, _ in published if display == "<5"]
    targets += [cells for key, cells in signature.items() if any(key)]
    found = []
    seen: set[frozenset[int]] = set()
    for cells in targets:
        true = sum(counts[m] for m in cells)
        if not 1 <= true <= 4 or frozenset(cells) in seen:
            continue
        seen.add(frozenset(cells))
        objective = np.zeros(n)
        objective[list(cells)] = 1
        low = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        high = linprog(-objective, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if low.status != 0:  # a noise beyond NOISE_BOUND: the attacker's bounds were wrong
            continue
        if high.status == 0 and -high.fun - low.fun < 0.5:  # 3: unbounded above, not pinned
            found.append((sorted(MICRO[m] for m in cells), true))
    return found


filters = st.builds(
    service.Filters,
    date_from=st.one_of(st.none(), st.sampled_from(DAYS)),
    date_to=st.one_of(st.none(), st.sampled_from(DAYS)),
    area=st.one_of(st.none(), st.sampled_from(AREAS)),
    source=st.one_of(st.none(), st.sampled_from(SOURCES)),
    klass=st.one_of(st.none(), st.sampled_from(CLASSES)),
    setting=st.one_of(st.none(), st.sampled_from(SETTINGS)),
)
queries = st.lists(st.builds(
    Query, rows=st.sampled_from(DIMENSIONS),
    cols=st.one_of(st.none(), st.sampled_from(DIMENSIONS)), filters=filters,
).filter(lambda q: q.cols != q.rows), min_size=1, max_size=4)
# Mostly zeros and large counts, with some small ones: where suppression has work to do.
micro_counts = st.lists(st.sampled_from([0, 0, 0, 0, 1, 2, 3, 6, 9]), min_size=len(MICRO),
                        max_size=len(MICRO))


def _load(system: EmbeddedSystem, counts: list[int]) -> None:
    with system.store.session() as session:
        session.query(EventRow).delete()
        n = 0
        for (area, source, day, klass, setting), count in zip(MICRO, counts):
            for _ in range(count):
                n += 1
                session.add(EventRow(
                    event_id=f"ev-{n}", report_key=f"{source}/x/r-{n}", source=source,
                    area_code=area, date=day, substance_key=None, substance_class=klass,
                    payload={"setting": setting, "substance_name": klass}))


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True, report_multiple_bugs=False,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(counts=micro_counts, asked=queries)
def test_no_combination_of_trends_queries_reveals_a_count_of_one_to_four(
        system: EmbeddedSystem, counts: list[int], asked: list[Query]) -> None:
    _load(system, counts)
    published = []
    for query in asked:
        try:
            result = service.trends(system.store, system.geography, rows=query.rows,
                                    cols=query.cols, filters=query.filters,
                                    perturber=PERTURBER)
        except service.TrendsInvalid:
            continue
        published += _published(result, query, system.geography)
    assert disclosed(counts, published) == []


class _Exact(Perturber):
    """Counts published as they are: what the attacker above must catch."""

    def noise(self, cell_key: int) -> int:
        return 0


@pytest.mark.parametrize("perturber, bound, leaked", [(_Exact(b"k"), 0, True),
                                                      (PERTURBER, NOISE_BOUND, False)])
def test_an_area_total_minus_its_nitazene_count_leaks_exact_counts_not_perturbed_ones(
        system: EmbeddedSystem, perturber: Perturber, bound: int, leaked: bool) -> None:
    counts = [0] * len(MICRO)
    counts[MICRO.index((AREAS[0], "ridr", DAYS[0], "nitazene", "community"))] = 9
    counts[MICRO.index((AREAS[0], "ridr", DAYS[0], "synthetic_cannabinoid", "community"))] = 1
    _load(system, counts)
    published = []
    for query in (Query("area", None, service.Filters()),
                  Query("area", None, service.Filters(klass="nitazene"))):
        result = service.trends(system.store, system.geography, rows=query.rows, cols=query.cols,
                                filters=query.filters, perturber=perturber)
        published += _published(result, query, system.geography)
    found = disclosed(counts, published, bound)
    assert bool(found) == leaked, found
    if leaked:
        assert [true for _cells, true in found] == [1]
