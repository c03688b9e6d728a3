"""Submitting reports (JSON and files) and reading the dead-letter topic."""

from __future__ import annotations

from typing import Any

from services.ingest import (
    Outcome,
    RecordInvalid,
    UnknownSource,
    accept,
    ingest_rows,
    parse_file,
    validate,
)
from services.pipeline import EmbeddedSystem
from streams import topics
from streams.schemas import SCHEMAS, Record


class BatchInvalid(Exception):
    """Some records of a JSON submission are invalid: nothing of it was accepted."""

    def __init__(self, errors: list[dict[str, Any]], total: int) -> None:
        self.errors = errors
        self.total = total
        super().__init__(f"{len({e['index'] for e in errors})} of {total} records are invalid")


def submit_json(system: EmbeddedSystem, source: str, account: str, payload: Any) -> list[Outcome]:
    """A record or a list of records: all accepted (or duplicates), or none if any is invalid."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise BatchInvalid([{"index": 0, "field": "(body)", "problem": "the batch is empty"}], 0)
    if len(items) > system.settings.max_batch_records:
        raise BatchInvalid([{"index": 0, "field": "(body)", "problem":
                             f"{len(items)} records in one batch; at most "
                             f"{system.settings.max_batch_records}: upload a file instead"}], len(items))
    records: list[tuple[int, Record]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            records.append((index, validate(source, item)))
        except RecordInvalid as exc:
            report_id = item.get("report_id") if isinstance(item, dict) else None
            errors.extend({"index": index, "report_id": report_id, **error} for error in exc.errors)
    if errors:
        raise BatchInvalid(errors, len(items))
    return accept(system.store, system.transport, source, account, records, via="api")


def submit_file(system: EmbeddedSystem, source: str, account: str, filename: str,
                content_type: str | None, data: bytes) -> list[Outcome]:
    """Every row of a CSV or NDJSON file: good rows accepted, bad rows dead-lettered."""
    if source not in SCHEMAS:
        raise UnknownSource(source)
    rows = parse_file(data, filename, content_type)
    return ingest_rows(system.store, system.transport, source, account, rows, via=f"file:{filename}")


def dead_letters(system: EmbeddedSystem, *, source: str | None, limit: int, offset: int) -> dict[str, Any]:
    letters = [
        {"offset": message.offset, **message.value}
        for message in system.transport.read_all(topics.DEADLETTER)
        if source is None or message.value.get("source") == source
    ]
    return {"total": len(letters), "dead_letters": letters[offset:offset + limit]}
