"""Trend counts for intelligence users: perturbed by cell key, small ones shown as <5, the same
reports always given the same number (the cross-query property test is
tests/api/test_trends_differencing.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections import Counter

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.auth.keys import signing_key
from services.api.trends.perturbation import ALPHA, Perturber, publish
from services.pipeline import EmbeddedSystem
from services.store import EventRow
from tests.api.helpers import BIRMINGHAM, COVENTRY, HARTLEPOOL, Accounts

# --- the perturbation itself --------------------------------------------------------------


def _two_sided_geometric(k: int) -> float:
    return (1 - ALPHA) / (1 + ALPHA) * ALPHA ** abs(k)


def test_noise_follows_its_documented_distribution_and_is_unbounded() -> None:
    perturber = Perturber(b"test secret")
    rng = random.Random(1)
    noise = Counter(perturber.noise(rng.getrandbits(64)) for _ in range(40_000))
    for k in range(-3, 4):
        assert abs(noise[k] / 40_000 - _two_sided_geometric(k)) < 0.01, (k, noise[k])
    assert abs(sum(k * n for k, n in noise.items()) / 40_000) < 0.03  # unbiased
    assert max(noise) >= 6 and min(noise) <= -6  # no bound an attacker could rely on


def test_the_same_reports_get_the_same_number_and_other_reports_another_draw() -> None:
    perturber = Perturber(b"test secret")
    reports = [f"ridr/clin/r-{n}" for n in range(40)]
    key = perturber.cell_key(reports)
    assert key == perturber.cell_key(list(reversed(reports))) == perturber.cell_key(set(reports))
    assert publish(40, key, perturber) == publish(40, key, perturber)
    assert Perturber(b"another secret").cell_key(reports) != key
    # A count of the same size over other reports is drawn anew: over many such pairs, the
    # noises agree about as often as two independent draws do (sum of P(k) squared = 0.35).
    agree = sum(perturber.noise(perturber.cell_key(reports[:20] + [f"x-{n}"]))
                == perturber.noise(perturber.cell_key(reports[:20] + [f"y-{n}"]))
                for n in range(4000))
    expected = sum(_two_sided_geometric(k) ** 2 for k in range(-40, 41))
    assert abs(agree / 4000 - expected) < 0.03


def test_differencing_two_counts_guesses_a_small_count_right_only_as_often_as_chance() -> None:
    """An area's reports (A plus d more) minus those of a narrower query (A): the difference of
    the published numbers equals d only when the two noises happen to agree."""
    perturber = Perturber(b"test secret")
    rng = random.Random(2)
    right = 0
    for trial in range(3000):
        base = [f"r-{trial}-{n}" for n in range(rng.randint(20, 60))]
        extra = [f"s-{trial}-{n}" for n in range(rng.randint(1, 4))]
        wide = publish(len(base) + len(extra), perturber.cell_key(base + extra), perturber)
        narrow = publish(len(base), perturber.cell_key(base), perturber)
        right += wide.count - narrow.count == len(extra)  # type: ignore[operator]
    assert 0.25 < right / 3000 < 0.45


def test_zero_is_exact_and_small_is_less_than_five() -> None:
    perturber = Perturber(b"test secret")
    assert publish(0, 0, perturber).display == "0"
    smalls = [publish(2, perturber.cell_key([f"r-{n}", f"q-{n}"]), perturber) for n in range(500)]
    assert all(p.display == "<5" or p.count >= 5 for p in smalls)  # type: ignore[operator]
    assert sum(p.display == "<5" for p in smalls) > 450  # a 2 shows as 5 or more only at noise >= 3
    assert all(p.as_dict()["suppressed"] == ("small" if p.display == "<5" else None) for p in smalls)


# --- the API ----------------------------------------------------------------------------------


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


def test_trends_table_is_perturbed_consistently_and_exported(system: EmbeddedSystem,
                                                            accounts: Accounts) -> None:
    _events(system, [(BIRMINGHAM, "ridr", "nitazene", "community", 12),
                     (BIRMINGHAM, "forensic", "nitazene", "prison", 2),
                     (COVENTRY, "ridr", "nitazene", "community", 7),
                     (COVENTRY, "forensic", "nitazene", "prison", 9),
                     (HARTLEPOOL, "ridr", "synthetic_cannabinoid", "prison", 6),
                     (HARTLEPOOL, "forensic", "synthetic_cannabinoid", "prison", 8)])
    with system.store.session() as session:
        rows = session.query(EventRow.report_key, EventRow.area_code, EventRow.source).all()
    perturber = Perturber(signing_key(system.settings))

    def expected(**where: str) -> dict:
        keys = [key for key, area, source in rows
                if where.get("area", area) == area and where.get("source", source) == source]
        return publish(len(keys), perturber.cell_key(keys), perturber).as_dict()

    api = TestClient(create_app(system))
    intel = accounts.headers("intelligence")
    table = api.get("/v1/trends", params={"rows": "area", "cols": "source"}, headers=intel).json()
    assert [r["label"] for r in table["rows"]] == ["Hartlepool", "Birmingham", "Coventry"]
    assert [c["key"] for c in table["cols"]] == ["forensic", "ridr"]
    areas, sources = [r["key"] for r in table["rows"]], [c["key"] for c in table["cols"]]
    for i, area in enumerate(areas):
        for j, source in enumerate(sources):
            assert table["cells"][i][j] == expected(area=area, source=source)
        assert table["row_totals"][i] == expected(area=area)
    assert table["col_totals"] == [expected(source=source) for source in sources]
    assert table["total"] == expected()
    assert table["cells"][1][0]["display"] in ("<5", "5")  # Birmingham's 2 forensic reports
    # The same reports asked for another way: the same numbers.
    one_way = api.get("/v1/trends", params={"rows": "area"}, headers=intel).json()
    assert [row[0] for row in one_way["cells"]] == table["row_totals"]
    assert one_way["total"] == table["total"]
    narrowed = api.get("/v1/trends", params={"rows": "source", "area": BIRMINGHAM},
                       headers=intel).json()
    assert [row[0] for row in narrowed["cells"]] == table["cells"][1]
    text = json.dumps(table)
    assert "narrative" not in text and "collapsed" not in text and "seizure" not in text
    assert "perturbed" in table["legend"]["numbers"]

    prisons = api.get("/v1/trends", params={"rows": "custody"}, headers=intel).json()
    assert [r["key"] for r in prisons["rows"]] == ["not_prison", "prison"]
    assert all(abs(int(c[0]["display"]) - true) <= 6 for c, true
               in zip(prisons["cells"], (19, 25)))

    exported = api.get("/v1/trends.csv", params={"rows": "area", "cols": "source"}, headers=intel)
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == ["area", "forensic", "ridr", "total"]
    assert lines[2] == [f"Birmingham ({BIRMINGHAM})", table["cells"][1][0]["display"],
                        table["cells"][1][1]["display"], table["row_totals"][1]["display"]]
    assert lines[-1][0] == "total"
    by_week = api.get("/v1/trends", params={"rows": "week", "cols": "region"}, headers=intel).json()
    assert by_week["rows"] == [{"key": "2026-03-02", "label": "2026-03-02"}]
    bad = api.get("/v1/trends", params={"rows": "narrative"}, headers=intel)
    assert bad.status_code == 422
