"""Parsers for uploaded files (CSV and NDJSON) into one payload per row, errors kept per row.

CSV cells map onto the nested v1 schemas by column name: `patient.age_band` for a nested field,
`components.0.name` for an item of a list, `;`-separated values for a list of words
(`clinical_features`, `cause_icd10`), and a cell holding a JSON array or object is taken as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.ingest.json_input import JsonRefused, loads

LIST_OF_WORDS = {"clinical_features", "cause_icd10"}
MAX_FIELD_CHARS = 100_000


@dataclass(frozen=True)
class Row:
    """One row of a file: its 1-based number, and either a payload or why it could not be read."""

    number: int
    payload: Any = None
    error: str | None = None


class FileFormatError(ValueError):
    """The file as a whole cannot be read (not a per-row problem)."""


def detect_format(filename: str, content_type: str | None) -> str:
    name = filename.lower()
    if name.endswith((".ndjson", ".jsonl")) or (content_type or "").endswith(("x-ndjson", "jsonl")):
        return "ndjson"
    if name.endswith(".csv") or (content_type or "").startswith("text/csv"):
        return "csv"
    raise FileFormatError(f"file {filename!r}: unknown format; upload a .csv or .ndjson file")


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"file {filename!r} is not UTF-8 text (byte {exc.start})") from None


def parse_ndjson(data: bytes, filename: str = "upload.ndjson") -> Iterator[Row]:
    for number, line in enumerate(_decode(data, filename).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield Row(number, loads(line))
        except JsonRefused as exc:
            yield Row(number, error=f"line {number} is not valid JSON: {exc}")


def _set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = target
    for position, part in enumerate(path):
        last = position == len(path) - 1
        next_is_index = not last and path[position + 1].isdigit()
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append({} if not last else None)
            if last:
                node[index] = value
            else:
                if not isinstance(node[index], (dict, list)):
                    node[index] = [] if next_is_index else {}
                node = node[index]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if next_is_index else {})


def _cell(column: str, text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    if text[0] in "[{":
        try:
            return loads(text)
        except JsonRefused:
            return text
    if column in LIST_OF_WORDS:
        return [word.strip() for word in text.split(";") if word.strip()]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_csv(data: bytes, filename: str = "upload.csv") -> Iterator[Row]:
    text = _decode(data, filename)
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise FileFormatError(f"file {filename!r}: header row is not valid CSV ({exc})") from None
    header = [column.strip() for column in header]
    if "report_id" not in header:
        raise FileFormatError(f"file {filename!r}: the header has no report_id column")
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number = reader.line_num
            yield Row(number, error=f"row {number} is not valid CSV: {exc}")
            continue
        number += 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield Row(number, error=f"row {number} has {len(cells)} cells but the header has {len(header)}")
            continue
        payload: dict[str, Any] = {}
        for column, cell in zip(header, cells, strict=True):
            value = _cell(column, cell)
            if value is not None:
                _set_path(payload, column.split("."), value)
        yield Row(number, _drop_empty_items(payload))


def _drop_empty_items(payload: dict[str, Any]) -> dict[str, Any]:
    """Indexed columns leave holes (components.2 when a row has two): drop them."""
    for key, value in payload.items():
        if isinstance(value, list):
            payload[key] = [item for item in value if item not in (None, {})]
    return payload


def parse_file(data: bytes, filename: str, content_type: str | None = None) -> Iterator[Row]:
    fmt = detect_format(filename, content_type)
    return parse_ndjson(data, filename) if fmt == "ndjson" else parse_csv(data, filename)
