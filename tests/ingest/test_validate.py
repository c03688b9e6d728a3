"""Every schema rule gives an error that names the field."""

from __future__ import annotations

import pytest

from services.ingest import RecordInvalid, UnknownSource, validate
from tests.conftest import TODAY, valid


@pytest.mark.parametrize("source", ["ridr", "forensic", "market", "death"])
def test_valid_records_pass(source: str) -> None:
    record = validate(source, valid(source))
    assert record.report_id == "x-1"


def _fields(source: str, payload: dict) -> dict[str, str]:
    with pytest.raises(RecordInvalid) as info:
        validate(source, payload)
    return {error["field"]: error["problem"] for error in info.value.errors}


@pytest.mark.parametrize(("source", "change", "field", "words"), [
    ("ridr", {"severity": "bad"}, "severity", "mild"),
    ("ridr", {"area_code": "E99999999"}, "area_code", "not a known local authority"),
    ("ridr", {"area_code": "Birmingham"}, "area_code", "pattern"),
    ("ridr", {"clinical_features": ["seizure", "flying"]}, "clinical_features[1]", "reduced_consciousness"),
    ("ridr", {"patient": {"age_band": "40-30", "sex": "male"}}, "patient.age_band", "runs backwards"),
    ("ridr", {"patient": {"age_band": "18-24", "sex": "m"}}, "patient.sex", "female"),
    ("ridr", {"substances": [{"route": "oral"}]}, "substances[0]", "at least one of name, smiles or inchi"),
    ("ridr", {"substances": [{"inchi": "1S/CH4/h1H4"}]}, "substances[0].inchi", "InChI="),
    ("ridr", {"event_date": "2999-01-01"}, "event_date", "future"),
    ("ridr", {"event_date": "not a date"}, "event_date", "date"),
    ("forensic", {"components": [{"name": "x", "purity_percent": 140}]}, "components[0].purity_percent", "100"),
    ("forensic", {"setting": "pub"}, "setting", "police_seizure"),
    ("forensic", {"form": "gas"}, "form", "powder"),
    ("market", {"price_gbp": -1}, "price_gbp", "greater than or equal to 0"),
    ("market", {"unit": "oz"}, "unit", "'g'"),
    ("death", {"cause_icd10": ["not-a-code"]}, "cause_icd10[0]", "pattern"),
    ("death", {"status": "probable"}, "status", "suspected"),
])
def test_bad_field_is_named(source: str, change: dict, field: str, words: str) -> None:
    problems = _fields(source, {**valid(source), **change})
    assert field in problems, problems
    assert words in problems[field]


@pytest.mark.parametrize(("source", "change", "words"), [
    ("ridr", {"received_at": f"{TODAY.replace(day=1).isoformat()}T00:00:00Z", "event_date": TODAY.isoformat()},
     "received_at is before event_date"),
    ("forensic", {"analysed_on": "2020-01-01", "collected_on": "2020-01-05"}, "analysed_on is before collected_on"),
    ("death", {"notified_on": "2020-01-01", "date_of_death": "2020-01-05"}, "notified_on is before date_of_death"),
])
def test_contradictory_dates_are_invalid(source: str, change: dict, words: str) -> None:
    if source == "ridr" and TODAY.day == 1:
        pytest.skip("no earlier day in this month")
    problems = _fields(source, {**valid(source), **change})
    assert any(words in problem for problem in problems.values()), problems


def test_missing_field_is_required() -> None:
    payload = valid("market")
    del payload["drug"]
    assert _fields("market", payload)["drug"] == "is required"


def test_not_an_object() -> None:
    assert "JSON object" in _fields("ridr", ["a list"])["(record)"]  # type: ignore[arg-type]


def test_unknown_source() -> None:
    with pytest.raises(UnknownSource, match="expected one of ridr, forensic, market, death"):
        validate("tweets", {})


def test_extra_fields_are_kept() -> None:
    record = validate("market", {**valid("market"), "colour": "white"})
    assert record.model_dump()["colour"] == "white"


def test_lower_case_codes_are_normalised() -> None:
    assert validate("ridr", {**valid("ridr"), "area_code": "e08000025"}).area_code == "E08000025"
