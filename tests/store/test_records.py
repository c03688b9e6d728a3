"""What the store keeps: submissions (one per key), signals and alerts (JSON intact), the audit
trail (append-only), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from services.ingest.accept import accept
from services.ingest.validate import validate
from services.store import AlertRow, AuditEntry, AuditIsAppendOnly, SignalRow, Store, Submission
from streams import topics
from streams.records import Accepted
from streams.sqlite_log import SqliteLog
from tests.conftest import valid

NOW = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteLog]:
    transport = SqliteLog(tmp_path / "log.sqlite")
    yield transport
    transport.close()


def _submission(**kw: object) -> Submission:
    fields = {"source": "ridr", "submitter": "default", "report_id": "r-1",
              "content_sha256": "0" * 64, "via": "api", "received_at": NOW} | kw
    return Submission(**fields)


def test_a_submission_key_is_stored_once(store: Store) -> None:
    with store.session() as session:
        session.add(_submission())
        session.add(_submission(submitter="another"))
        session.add(_submission(source="death"))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(_submission(content_sha256="1" * 64, via="file:x.csv"))
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(Submission)).scalar_one() == 3


def test_accept_claims_keys_once_and_tells_duplicates_from_conflicts(store: Store,
                                                                     log: SqliteLog) -> None:
    records = [(i, validate("ridr", valid("ridr", f"r-{i}"))) for i in range(5)]
    outcomes = accept(store, log, "ridr", "default", records, "api")
    assert {outcome.outcome for outcome in outcomes} == {"accepted"}
    changed = validate("ridr", valid("ridr", "r-1", severity="fatal"))
    again = accept(store, log, "ridr", "default", [*records[:1], (1, changed), *records[2:]], "api")
    assert [o.outcome for o in again] == ["duplicate", "conflict", "duplicate", "duplicate",
                                          "duplicate"]
    appended = list(log.read_all(topics.raw("ridr")))
    assert len(appended) == 5
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(Submission)).scalar_one() == 5
    # Each envelope in the log is exactly what its model writes, record and all.
    for (_, record), message in zip(records, appended, strict=True):
        envelope = Accepted.model_validate(message.value)
        assert envelope.model_dump(mode="json") == message.value
        assert (envelope.submitter, envelope.report_id) == ("default", record.report_id)
        assert envelope.record == record.model_dump(mode="json")


def test_free_text_as_long_as_validation_allows_fits(store: Store, log: SqliteLog) -> None:
    """PostgreSQL enforces VARCHAR lengths that SQLite ignores: a 500-character lab id (which
    validation allows) and a long file name must not make a record unstorable."""
    record = validate("forensic", valid("forensic", "f-1", lab_id="L" * 500))
    via = "file:" + "n" * 400 + ".csv"
    outcomes = accept(store, log, "forensic", "default", [(0, record)], via)
    assert [o.outcome for o in outcomes] == ["accepted"]
    with store.session() as session:
        assert session.execute(select(Submission.submitter)).scalar_one() == "default:" + "L" * 500


def _signal(signal_id: str = "sig-1", **kw: object) -> SignalRow:
    fields = {
        "signal_id": signal_id, "detector": "aberration", "method": "ears_c2",
        "substance_key": "SJHUJFHOXYDSJY-UHFFFAOYSA-N", "substance_class": "nitazene",
        "area_code": "E08000025", "source": "ridr", "period_start": dt.date(2025, 3, 3),
        "period_end": dt.date(2025, 3, 9), "severity": "high",
        "payload": {"observed": 7, "expected": 1.25, "threshold": 4.5,
                    "report_keys": ["ridr/default/r-1", "ridr/default/r-2"],
                    "detail": {"history": [0, 1, 2, None], "novel": False, "note": "é ☃"}},
        "detected_at": NOW,
    } | kw
    return SignalRow(**fields)


def test_signals_round_trip_their_payload_and_defaults(store: Store) -> None:
    original = _signal()
    with store.session() as session:
        session.add(original)
    with store.session() as session:
        row = session.get(SignalRow, "sig-1")
        assert row is not None
        assert row.payload == original.payload
        assert (row.disposition, row.published, row.reason, row.alert_id) == (
            "pending", False, None, None)
        assert row.detected_at == NOW  # an instant: equal whatever the zone it comes back in
        unpublished = session.execute(
            select(SignalRow.signal_id).where(SignalRow.published.is_(False))).scalars().all()
        assert unpublished == ["sig-1"]


def _alert(alert_id: str = "alert-1", **kw: object) -> AlertRow:
    fields = {
        "alert_id": alert_id, "fusion_key": "class:nitazene", "title": "Nitazene in Birmingham",
        "summary": "Rise in nitazene reports", "status": "new", "severity": "high",
        "confidence": 0.55, "substance_key": None, "substance_name": None,
        "substance_class": "nitazene", "novel": False, "scope": "area",
        "terms": ["class:nitazene"], "areas": ["E08000025", "E08000029"],
        "sources": ["forensic", "ridr"], "detectors": ["aberration"],
        "first_seen": dt.date(2025, 3, 3), "last_seen": dt.date(2025, 3, 9),
        "created_at": NOW, "updated_at": NOW,
    } | kw
    return AlertRow(**fields)


def test_alerts_round_trip_their_lists_and_count_versions(store: Store) -> None:
    with store.session() as session:
        session.add(_alert())
    with store.session() as session:
        row = session.get(AlertRow, "alert-1")
        assert row is not None
        assert (row.terms, row.areas, row.sources, row.detectors) == (
            ["class:nitazene"], ["E08000025", "E08000029"], ["forensic", "ridr"], ["aberration"])
        assert (row.version, row.indexed_version, row.novel) == (1, 0, False)
        row.areas = [*row.areas, "E08000026"]  # JSON is replaced, not mutated in place
    with store.session() as session:
        row = session.get(AlertRow, "alert-1")
        assert row is not None
        assert row.areas == ["E08000025", "E08000029", "E08000026"]
        assert row.version == 2


def test_audit_trail_only_grows(store: Store) -> None:
    with store.session() as session:
        session.add(_alert())
        for n, (action, to) in enumerate([("raised", "new"), ("status", "under_review"),
                                          ("comment", None)]):
            session.add(AuditEntry(alert_id="alert-1", at=NOW + dt.timedelta(minutes=n),
                                   actor="clinician:a", action=action, from_value=None,
                                   to_value=to, why=f"step {n}"))
    with pytest.raises(AuditIsAppendOnly, match="changed"), store.session() as session:
        entry = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().first()
        assert entry is not None
        entry.why = "rewritten"
    with pytest.raises(AuditIsAppendOnly, match="deleted"), store.session() as session:
        session.delete(session.execute(select(AuditEntry)).scalars().first())
    with pytest.raises(AuditIsAppendOnly), store.session() as session:
        session.execute(update(AuditEntry).values(actor="nobody"))
    with pytest.raises(AuditIsAppendOnly), store.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.alert_id == "alert-1"))

    with store.session() as session:
        session.add(AuditEntry(alert_id="alert-1", at=NOW + dt.timedelta(hours=1),
                               actor="clinician:b", action="status", from_value="under_review",
                               to_value="confirmed", why="lab confirmed"))
    with store.session() as session:
        trail = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [(e.action, e.why) for e in trail] == [
        ("raised", "step 0"), ("status", "step 1"), ("comment", "step 2"),
        ("status", "lab confirmed")]
    assert [e.id for e in trail] == sorted({e.id for e in trail})
    assert trail[-1].at == NOW + dt.timedelta(hours=1)
