"""The CSV and NDJSON parsers against generated files: valid rows come through, and no file,
however broken, raises anything but FileFormatError (the file) or a row's own error."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.ingest import (
    FileFormatError,
    RecordInvalid,
    parse_csv,
    parse_file,
    parse_ndjson,
    validate,
)
from services.ingest.files import LIST_OF_WORDS
from streams.schemas import SCHEMAS, SOURCES
from tests.hostile.strategies import VALID_RECORDS, cases, json_values
from tests.hostile.test_schemas import assert_named


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(child, f"{prefix}.{key}" if prefix else key, out)
    elif prefix in LIST_OF_WORDS:
        out[prefix] = ";".join(value)
    elif isinstance(value, list):
        if not value or not all(isinstance(item, dict) for item in value):
            out[prefix] = json.dumps(value)
        for index, item in enumerate(value if value and all(isinstance(i, dict) for i in value) else []):
            _flatten(item, f"{prefix}.{index}", out)
    elif isinstance(value, bool):
        out[prefix] = str(value).lower()
    else:
        out[prefix] = str(value)


def as_csv(records: list[dict[str, Any]]) -> bytes:
    """Records as the CSV layout files.py reads: dotted columns, indexed list items."""
    rows = []
    for record in records:
        cells: dict[str, str] = {}
        _flatten({k: v for k, v in record.items() if k in _KNOWN}, "", cells)
        rows.append(cells)
    header = sorted({column for row in rows for column in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


# Extra fields round-trip through NDJSON; in a CSV every cell is text, so only known fields.
_KNOWN = {name for schema in SCHEMAS.values() for name in schema.model_fields}


def _csv_safe(text: str) -> bool:
    """A cell files.py reads as text: not JSON-looking, not a boolean, not blank."""
    stripped = text.strip()
    return bool(stripped) and stripped[0] not in "[{" and stripped.lower() not in ("true", "false")


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for child in value.values() for t in _texts(child)]
    if isinstance(value, list):
        return [t for child in value for t in _texts(child)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("source", SOURCES)
@cases(40)
@given(data=st.data())
def test_valid_records_come_through_ndjson_and_csv(source: str, data: st.DataObject) -> None:
    records = data.draw(st.lists(VALID_RECORDS[source], min_size=1, max_size=5), label="records")
    expected = [validate(source, record) for record in records]
    ndjson = "\n".join(json.dumps(record) for record in records).encode()
    rows = list(parse_ndjson(ndjson))
    assert [validate(source, row.payload) for row in rows] == expected
    known = [{k: v for k, v in record.items() if k in _KNOWN} for record in records]
    assume(all(_csv_safe(text) for record in known for text in _texts(record)))
    rows = list(parse_csv(as_csv(records)))
    assert [row.error for row in rows] == [None] * len(records)
    assert [validate(source, row.payload).report_id for row in rows] == [r.report_id for r in expected]  # type: ignore[attr-defined]


def _read_every_row(source: str, data: bytes, filename: str) -> int:
    """Parse and validate every row the way ingest does; only the project's errors may escape."""
    try:
        rows = list(parse_file(data, filename))
    except FileFormatError as exc:
        assert filename in str(exc)
        return 0
    for row in rows:
        if row.error is not None:
            assert str(row.number) in row.error
            continue
        try:
            validate(source, row.payload)
        except RecordInvalid as exc:
            assert_named(source, row.payload, exc.errors)
    return len(rows)


@st.composite
def damaged_files(draw: st.DrawFn, source: str, kind: str) -> bytes:
    """A valid file of a few records, then cut, spliced, or salted with hostile bytes."""
    records = draw(st.lists(VALID_RECORDS[source], min_size=1, max_size=3))
    data = as_csv(records) if kind == "csv" else "\n".join(map(json.dumps, records)).encode()
    hostile = st.sampled_from([b'"', b",", b"\n", b"\r", b"\x00", b"\xff\xfe", b"=cmd|' /C calc'!A0",
                               b"[" * 5000, b"{" * 3000, b'{"a":' * 2000, b"NaN", b"-Infinity",
                               b"\xef\xbb\xbf", "é☃😀".encode(), b"x" * 200_000, b";;;", b"..", b"0.0.0"])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["insert", "cut", "replace"]))
        piece = draw(hostile | st.binary(max_size=30))
        if how == "insert":
            data = data[:at] + piece + data[at:]
        elif how == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 50)):]
        else:
            data = data[:at] + piece + data[at + len(piece):]
    return data


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", ["csv", "ndjson"])
@cases(40)
@given(data=st.data())
def test_damaged_files_give_row_errors_never_exceptions(source: str, kind: str, data: st.DataObject) -> None:
    content = data.draw(damaged_files(source, kind), label="file")
    _read_every_row(source, content, f"upload.{kind}")


@pytest.mark.parametrize("kind", ["csv", "ndjson"])
@cases(80)
@given(content=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode)
       | st.lists(json_values, max_size=5).map(lambda values: "\n".join(map(json.dumps, values)).encode()))
def test_arbitrary_bytes_give_row_errors_never_exceptions(kind: str, content: bytes) -> None:
    _read_every_row("ridr", b"report_id,area_code\n" + content if kind == "csv" else content,
                    f"upload.{kind}")
