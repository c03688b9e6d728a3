"""Submitting reports (JSON and files) and reading the dead-letter topic.

The submitter of a record is the calling account (for a forensic result, with its lab_id);
while no account exists, the default submitter. A role submits only its own inputs
(`permissions.SUBMITS`), and a forensic provider only for its own labs.
"""

from __future__ import annotations

from typing import Any

from services.api.auth.permissions import SUBMITS
from services.api.auth.principal import Principal
from services.ingest import (
    Outcome,
    RecordInvalid,
    UnknownSource,
    accept,
    dead_letter,
    ingest_rows,
    parse_file,
    validate,
)
from services.pipeline import EmbeddedSystem
from streams import topics
from streams.schemas import SCHEMAS, Record
from streams.transport import Message


class BatchInvalid(Exception):
    """Some records of a JSON submission are invalid: nothing of it was accepted."""

    def __init__(self, errors: list[dict[str, Any]], total: int) -> None:
        self.errors = errors
        self.total = total
        super().__init__(f"{len({e['index'] for e in errors})} of {total} records are invalid")


class SubmitRefused(Exception):
    """The account may not submit this (another role's input, another provider's lab)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)


def check_source(who: Principal, source: str) -> None:
    """Raises SubmitRefused unless the caller's role submits `source` (open mode submits all)."""
    if who.role is None:
        return
    allowed = SUBMITS.get(who.role, frozenset())
    if source not in allowed:
        raise SubmitRefused(f"a {who.role} account submits {', '.join(sorted(allowed)) or 'nothing'},"
                            f" not {source}")


def lab_errors(who: Principal, record: Record) -> list[dict[str, str]]:
    """A forensic result must name one of the account's labs (open mode: any lab)."""
    lab = getattr(record, "lab_id", None)
    if who.role is None or lab is None or lab in who.labs:
        return []
    labs = ", ".join(sorted(who.labs)) or "none"
    return [{"field": "lab_id", "problem": f"{lab!r} is not one of this account's labs ({labs})"}]


def submit_json(system: EmbeddedSystem, source: str, who: Principal, payload: Any) -> list[Outcome]:
    """A record or a list of records: all accepted (or duplicates), or none if any is invalid."""
    check_source(who, source)
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
    refused = [{"index": index, "report_id": record.report_id, **error}  # type: ignore[attr-defined]
               for index, record in records for error in lab_errors(who, record)]
    if refused:
        raise SubmitRefused("records for a lab this account does not submit for; nothing was "
                            "accepted", refused)
    return accept(system.store, system.transport, source, who.username, records, via="api")


def submit_validated(system: EmbeddedSystem, source: str, who: Principal,
                     records: list[tuple[int, Record]], via: str) -> list[Outcome]:
    """Records validated already (a replayed stream): the same checks as the API, and a record
    for another provider's lab dead-lettered with the reason."""
    check_source(who, source)
    allowed: list[tuple[int, Record]] = []
    refused: list[Outcome] = []
    for index, record in records:
        errors = lab_errors(who, record)
        if not errors:
            allowed.append((index, record))
            continue
        reason = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
        dead_letter(system.transport, source, who.username, "ingest", via, reason, errors=errors,
                    payload=record.model_dump(mode="json"))
        refused.append(Outcome(index, record.report_id, "dead_lettered", reason, errors))  # type: ignore[attr-defined]
    outcomes = accept(system.store, system.transport, source, who.username, allowed, via=via)
    return sorted([*outcomes, *refused], key=lambda outcome: outcome.index)


def submit_file(system: EmbeddedSystem, source: str, who: Principal, filename: str,
                content_type: str | None, data: bytes) -> list[Outcome]:
    """Every row of a CSV or NDJSON file: good rows accepted, bad rows dead-lettered."""
    if source not in SCHEMAS:
        raise UnknownSource(source)
    check_source(who, source)
    rows = parse_file(data, filename, content_type)
    return ingest_rows(system.store, system.transport, source, who.username, rows,
                       via=f"file:{filename}", check=lambda record: lab_errors(who, record))


def letter_id(message: Message) -> str:
    """A dead letter's name: its place in the `deadletter` topic, which never changes."""
    return f"{message.partition}-{message.offset}"


def dead_letters(system: EmbeddedSystem, *, source: str | None, limit: int, offset: int) -> dict[str, Any]:
    letters = [
        {"id": letter_id(message), "offset": message.offset, **message.value}
        for message in system.transport.read_all(topics.DEADLETTER)
        if source is None or message.value.get("source") == source
    ]
    return {"total": len(letters), "dead_letters": letters[offset:offset + limit]}
