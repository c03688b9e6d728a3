"""Every wire schema against generated records: valid ones pass, hostile ones fail by name.

Whatever a submitter sends, validation raises nothing but RecordInvalid, and each of its errors
names a field of the record (a cross-field rule names the field to correct).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest import RecordInvalid, validate
from streams.schemas import SCHEMAS, SOURCES
from tests.hostile.strategies import VALID_RECORDS, cases, json_values, mutated

_TOP = re.compile(r"^[^.\[]+")


def assert_named(source: str, payload: Any, errors: list[dict[str, str]]) -> None:
    """Each error has a problem and names a field of the schema or of the payload."""
    assert errors, "RecordInvalid without errors"
    for error in errors:
        assert error["problem"].strip(), error
        if not isinstance(payload, dict):
            assert error["field"] == "(record)", error
            continue
        top = _TOP.match(error["field"])
        assert top is not None, error
        assert top[0] in SCHEMAS[source].model_fields or top[0] in payload, error


@pytest.mark.parametrize("source", SOURCES)
@cases(100)
@given(data=st.data())
def test_valid_generated_records_are_accepted(source: str, data: st.DataObject) -> None:
    record = data.draw(VALID_RECORDS[source], label="record")
    validated = validate(source, record)
    assert validated.report_id == record["report_id"].strip()  # type: ignore[attr-defined]


@pytest.mark.parametrize("source", SOURCES)
@cases(150)
@given(data=st.data())
def test_mutated_records_fail_only_by_naming_fields(source: str, data: st.DataObject) -> None:
    payload, _what = data.draw(mutated(source), label="mutation")
    try:
        validate(source, payload)
    except RecordInvalid as exc:
        assert_named(source, payload, exc.errors)


@pytest.mark.parametrize("source", SOURCES)
@cases(60)
@given(data=st.data())
def test_arbitrary_json_fails_only_by_naming_fields(source: str, data: st.DataObject) -> None:
    fields = st.sampled_from(list(SCHEMAS[source].model_fields))
    payload = data.draw(json_values | st.dictionaries(fields, json_values), label="payload")
    with pytest.raises(RecordInvalid) as info:
        validate(source, payload)
    assert_named(source, payload, info.value.errors)
