"""Hypothesis strategies for the v1 records: valid ones, and mutations of them.

Valid records are drawn from the closed vocabularies of streams/schemas.py itself, so a new
value there is generated here without a change. One settings profile for the whole package:
derandomised (the same cases on every run), no deadline (a shared 2-core CI machine), and no
example database written into the repository.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any, get_args

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from services.geography import load_geography
from streams import schemas

settings.register_profile(
    "hostile", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)
HOSTILE = settings.get_profile("hostile")


def cases(max_examples: int) -> settings:
    """The package's profile with its own number of examples."""
    return settings(HOSTILE, max_examples=max_examples)


TODAY = dt.datetime.now(dt.UTC).date()
AREAS = sorted(load_geography().areas)

words = st.text(alphabet=string.ascii_letters + string.digits + "-_ ", min_size=1, max_size=30).filter(
    lambda text: text.strip() != "")
free_text = st.text(min_size=1, max_size=60).filter(lambda text: text.strip() != "")
report_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_/.:", min_size=1, max_size=40)


def one_of_vocabulary(literal: Any) -> st.SearchStrategy[str]:
    return st.sampled_from(get_args(literal))


@st.composite
def days_back(draw: st.DrawFn, most: int = 3000) -> dt.date:
    return TODAY - dt.timedelta(days=draw(st.integers(0, most)))


@st.composite
def day_pairs(draw: st.DrawFn) -> tuple[dt.date, dt.date]:
    """(earlier, later) days, both in the past: event and report, collection and analysis."""
    later = draw(days_back())
    return later - dt.timedelta(days=draw(st.integers(0, 400))), later


@st.composite
def age_bands(draw: st.DrawFn) -> str:
    low = draw(st.integers(0, 110))
    return draw(st.sampled_from([f"{low}-{low + draw(st.integers(0, 20))}", f"{low}+", "unknown"]))


area_codes = st.sampled_from(AREAS).flatmap(lambda code: st.sampled_from([code, code.lower(), f" {code} "]))
# Real structures of the reference kind; resolution is not part of validation, so any text does.
smiles = st.sampled_from(["CCN(CC)C(=O)C1CN(C)C2CC3=CNC4=CC=CC(=C34)C2=C1", "c1ccccc1", "CC(N)Cc1ccccc1",
                          "not really smiles((", "C" * 200])
inchis = st.sampled_from(["InChI=1S/CH4/h1H4", "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3", "InChI=junk"])
extra_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(st.sampled_from(["comment", "batch", "x_lab_ref", "tags"]), extra_values, max_size=2)


@st.composite
def mentions(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.sets(st.sampled_from(["name", "smiles", "inchi"]), min_size=1))
    mention: dict[str, Any] = {}
    if "name" in chosen:
        mention["name"] = draw(free_text)
    if "smiles" in chosen:
        mention["smiles"] = draw(smiles)
    if "inchi" in chosen:
        mention["inchi"] = draw(inchis)
    return mention


def _optional(draw: st.DrawFn, target: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        target[key] = draw(strategy)


@st.composite
def ridr_reports(draw: st.DrawFn) -> dict[str, Any]:
    event, received = draw(day_pairs())
    substances = []
    for mention in draw(st.lists(mentions(), max_size=4)):
        _optional(draw, mention, "route", one_of_vocabulary(schemas.Route))
        _optional(draw, mention, "confirmed", st.booleans())
        substances.append(mention)
    record: dict[str, Any] = {
        "report_id": draw(report_ids),
        "received_at": f"{received.isoformat()}T{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00"
                       + draw(st.sampled_from(["Z", "+00:00", ""])),
        "event_date": event.isoformat(),
        "reporter_role": draw(one_of_vocabulary(schemas.ReporterRole)),
        "setting": draw(one_of_vocabulary(schemas.Setting)),
        "area_code": draw(area_codes),
        "patient": {"age_band": draw(age_bands()), "sex": draw(one_of_vocabulary(schemas.Sex))},
        "substances": substances,
        "clinical_features": draw(st.lists(one_of_vocabulary(schemas.ClinicalFeature), max_size=5)),
        "severity": draw(one_of_vocabulary(schemas.Severity)),
        "outcome": draw(one_of_vocabulary(schemas.Outcome)),
    }
    given = draw(st.sampled_from([None, True, False]))
    if given is not None:
        record["naloxone_given"] = given
        if given:
            _optional(draw, record, "naloxone_response", one_of_vocabulary(schemas.NaloxoneResponse))
    _optional(draw, record, "sample_id", words)
    _optional(draw, record, "narrative", st.text(max_size=300))
    return {**draw(extras), **record}


@st.composite
def forensic_results(draw: st.DrawFn) -> dict[str, Any]:
    collected, analysed = draw(day_pairs())
    components = []
    for mention in draw(st.lists(mentions(), max_size=4)):
        _optional(draw, mention, "purity_percent", st.floats(0, 100))
        _optional(draw, mention, "role", words)
        components.append(mention)
    record: dict[str, Any] = {
        "report_id": draw(report_ids), "lab_id": draw(words), "sample_id": draw(words),
        "collected_on": collected.isoformat(), "analysed_on": analysed.isoformat(),
        "area_code": draw(area_codes), "setting": draw(one_of_vocabulary(schemas.ForensicSetting)),
        "form": draw(one_of_vocabulary(schemas.Form)), "components": components,
        "method": draw(words),
    }
    _optional(draw, record, "sold_as", free_text)
    return {**draw(extras), **record}


@st.composite
def market_reports(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "report_id": draw(report_ids), "collected_on": draw(days_back()).isoformat(),
        "area_code": draw(area_codes), "drug": draw(free_text),
        "price_gbp": draw(st.floats(0, 1_000_000) | st.integers(0, 1_000_000)),
        "quantity": draw(st.floats(0.001, 1_000_000) | st.integers(1, 1000)),
        "unit": draw(one_of_vocabulary(schemas.Unit)),
        "source": draw(one_of_vocabulary(schemas.MarketSource)),
    }
    _optional(draw, record, "purity_percent", st.floats(0, 100))
    return {**draw(extras), **record}


@st.composite
def death_reports(draw: st.DrawFn) -> dict[str, Any]:
    died, notified = draw(day_pairs())
    icd10 = st.from_regex(r"\A[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?\Z")
    record: dict[str, Any] = {
        "report_id": draw(report_ids), "date_of_death": died.isoformat(),
        "notified_on": notified.isoformat(), "area_code": draw(area_codes),
        "age_band": draw(age_bands()), "sex": draw(one_of_vocabulary(schemas.Sex)),
        "setting": draw(one_of_vocabulary(schemas.Setting)),
        "substances": draw(st.lists(mentions(), max_size=4)),
        "cause_icd10": draw(st.lists(icd10, max_size=3)),
        "status": draw(one_of_vocabulary(schemas.DeathStatus)),
    }
    _optional(draw, record, "released_from_prison_days", st.integers(0, 36_500))
    return {**draw(extras), **record}


VALID_RECORDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ridr": ridr_reports(), "forensic": forensic_results(), "market": market_reports(),
    "death": death_reports(),
}

# Anything JSON can carry, including what a careless or hostile submitter sends.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
    | st.sampled_from(["", " ", "2024-02-30", "1899-12-31", "2999-01-01", "E08000025", "unknown",
                       "18-24", "24-18", "1e309", "\x00", "NaN", "-1", "☃" * 3, "InChI=", "[]"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                      max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a record (keys and list positions)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, source: str) -> tuple[dict[str, Any] | Any, str]:
    """A valid record with one hostile change, and a description of it (for the failure)."""
    record = draw(VALID_RECORDS[source])
    paths = _paths(record)
    how = draw(st.sampled_from(["replace", "delete", "replace", "stringify", "whole"]))
    if how == "whole":
        return draw(json_values), "the whole record replaced"
    path = draw(st.sampled_from(paths))
    parent: Any = record
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        if isinstance(parent, list):
            parent.pop(last)
        else:
            del parent[last]
    elif how == "stringify":
        parent[last] = str(parent[last])
    else:
        parent[last] = draw(json_values)
    return record, f"{how} {'.'.join(map(str, path))}"
