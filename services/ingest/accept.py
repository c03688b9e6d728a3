"""Accepting validated records: idempotency, append to `raw.<source>`, dead-letter the rest.

Order of work, so that nothing accepted is lost and nothing counts twice: the idempotency keys
are claimed in the store's transaction, the records are appended to the log, and only then does
the store commit. If the append fails, the claim is rolled back and the caller is told nothing
was accepted. If the process dies between append and commit, a resubmission appends again; the
normaliser's event ids derive from the same key, so the repeat changes no count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from services.ingest.files import Row
from services.ingest.validate import IngestError, RecordInvalid, submitter_for, validate
from services.store import Store, Submission
from streams import topics
from streams.records import Accepted, DeadLetter
from streams.schemas import Record
from streams.transport import Transport, TransportError

OutcomeKind = Literal["accepted", "duplicate", "conflict", "dead_lettered"]


class IngestUnavailable(IngestError):
    """The log or the store cannot be written (disk full, read-only, broker down): the records
    were not accepted, and sending them again later is safe."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one submitted record."""

    index: int
    report_id: str | None
    outcome: OutcomeKind
    reason: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "report_id": self.report_id, "outcome": self.outcome}
        if self.reason:
            out["reason"] = self.reason
        if self.errors:
            out["errors"] = self.errors
        return out


def content_hash(dumped: dict[str, Any]) -> str:
    """The SHA-256 of a record as dumped (`model_dump(mode="json")`), keys sorted."""
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def accept(
    store: Store,
    transport: Transport,
    source: str,
    account: str,
    records: Sequence[tuple[int, Record]],
    via: str,
    *,
    received_at: dt.datetime | None = None,
) -> list[Outcome]:
    """Append the new records of a batch to `raw.<source>`; report duplicates and conflicts."""
    received_at = received_at or _now()
    keyed = []
    for index, record in records:
        dumped = record.model_dump(mode="json")  # once: for the hash and for the log
        keyed.append((index, record, submitter_for(source, account, record), content_hash(dumped),
                      dumped))
    outcomes: dict[int, Outcome] = {}
    try:
        _claim_and_append(store, transport, source, via, received_at, keyed, outcomes)
    except TransportError as exc:
        raise IngestUnavailable(f"{exc}; send them again later") from exc
    except OperationalError as exc:
        # The claims were rolled back; the records may be in the log already (the commit failed
        # after the append): resending is safe, the normaliser counts one report_id once.
        raise IngestUnavailable(
            f"the store could not record the submissions ({exc.orig}); nothing was accepted: "
            "check disk space and permissions, then send them again") from exc
    return [outcomes[index] for index, _ in records]


def _claim_and_append(store: Store, transport: Transport, source: str, via: str,
                      received_at: dt.datetime,
                      keyed: list[tuple[int, Record, str, str, dict[str, Any]]],
                      outcomes: dict[int, Outcome]) -> None:
    # Every envelope of the batch shares source, time and route: validated once, then copied.
    template = Accepted(source=source, submitter="-", report_id="-", received_at=received_at,
                       via=via, record={}).model_dump(mode="json")
    with store.session() as session:
        wanted = {(sub, rec.report_id) for _, rec, sub, _, _ in keyed}  # type: ignore[attr-defined]
        existing: dict[tuple[str, str], str] = {}
        by_submitter: dict[str, list[str]] = {}
        for submitter, report_id in sorted(wanted):
            by_submitter.setdefault(submitter, []).append(report_id)
        # Per submitter, `report_id IN (...)`: a search of the unique key. (A row-value IN of
        # (submitter, report_id) reads every submission of the source on SQLite.)
        for submitter, report_ids in by_submitter.items():
            for chunk in _chunks(report_ids, 400):
                rows = session.execute(
                    select(Submission.report_id, Submission.content_sha256).where(
                        Submission.source == source, Submission.submitter == submitter,
                        Submission.report_id.in_(chunk),
                    )
                )
                existing.update({(submitter, rid): sha for rid, sha in rows})
        fresh: list[tuple[str | None, dict[str, Any]]] = []
        claims: list[dict[str, Any]] = []
        for index, record, submitter, sha, dumped in keyed:
            report_id = record.report_id  # type: ignore[attr-defined]
            seen = existing.get((submitter, report_id))
            if seen is not None:
                outcomes[index] = (
                    Outcome(index, report_id, "duplicate", "already accepted; not counted again")
                    if seen == sha
                    else Outcome(index, report_id, "conflict",
                                 "report_id already accepted with different content; amendments "
                                 "are not supported in v1: use a new report_id")
                )
                continue
            existing[(submitter, report_id)] = sha
            claims.append({"source": source, "submitter": submitter, "report_id": report_id,
                           "content_sha256": sha, "via": via, "received_at": received_at,
                           "record": dumped})
            envelope = {**template, "submitter": submitter, "report_id": report_id,
                        "record": dumped}
            fresh.append((record.area_code, envelope))  # type: ignore[attr-defined]
            outcomes[index] = Outcome(index, report_id, "accepted")
        if claims:  # into the table: the ORM's unit of work costs more than the inserts
            session.execute(insert(Submission.__table__), claims)
        transport.produce_many(topics.raw(source), fresh)
        transport.flush()


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def dead_letter(
    transport: Transport,
    source: str,
    account: str,
    stage: Literal["ingest", "normaliser"],
    via: str,
    reason: str,
    *,
    errors: list[dict[str, str]] | None = None,
    row: int | None = None,
    payload: Any = None,
) -> None:
    letter = DeadLetter(source=source, submitter=account, stage=stage, via=via, reason=reason,
                        errors=errors or [], row=row, payload=payload, received_at=_now())
    transport.produce(topics.DEADLETTER, letter.model_dump(mode="json"), key=source)


def ingest_rows(
    store: Store,
    transport: Transport,
    source: str,
    account: str,
    rows: Iterable[Row],
    via: str,
    *,
    batch_size: int = 1000,
    check: Callable[[Record], list[dict[str, str]]] | None = None,
) -> list[Outcome]:
    """A file's rows: the good ones accepted, each bad one dead-lettered with its reason.

    Args:
        check: more errors of a valid record (e.g. a lab the account may not submit for); a row
            with any is dead-lettered like an invalid one.
    """
    outcomes: list[Outcome] = []
    pending: list[tuple[int, Record]] = []

    def flush() -> None:
        outcomes.extend(accept(store, transport, source, account, pending, via))
        pending.clear()

    for row in rows:
        if row.error is not None:
            dead_letter(transport, source, account, "ingest", via, row.error, row=row.number)
            outcomes.append(Outcome(row.number, None, "dead_lettered", row.error))
            continue
        try:
            record = validate(source, row.payload)
        except RecordInvalid as exc:
            report_id = row.payload.get("report_id") if isinstance(row.payload, dict) else None
            reason = f"row {row.number}: {exc}"
            dead_letter(transport, source, account, "ingest", via, reason,
                        errors=exc.errors, row=row.number, payload=row.payload)
            outcomes.append(Outcome(row.number, _text_or_none(report_id), "dead_lettered", reason, exc.errors))
            continue
        refused = check(record) if check is not None else []
        if refused:
            report_id = record.report_id  # type: ignore[attr-defined]
            reason = f"row {row.number}: " + "; ".join(f"{e['field']}: {e['problem']}" for e in refused)
            dead_letter(transport, source, account, "ingest", via, reason,
                        errors=refused, row=row.number, payload=row.payload)
            outcomes.append(Outcome(row.number, report_id, "dead_lettered", reason, refused))
            continue
        pending.append((row.number, record))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return sorted(outcomes, key=lambda outcome: outcome.index)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
