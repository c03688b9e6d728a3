"""Two API replicas on one database never lose an update to the same alert.

Each `Store` is its own engine and pool, as a second process would have. The alert's version
counter turns a write over a stale read into `StaleDataError`; `retry_on_conflict` re-reads and
re-applies, so every change lands exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.store import AlertRow, AuditEntry, ConcurrentUpdateError, Store, retry_on_conflict

NOW = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)
ALERT_ID = "alert-1"


def _seed(store: Store) -> None:
    with store.session() as session:
        session.add(AlertRow(
            alert_id=ALERT_ID, fusion_key="class:nitazene", title="Nitazene in Birmingham",
            summary="s", status="new", severity="high", confidence=0.55, substance_key=None,
            substance_name=None, substance_class="nitazene", novel=False, scope="area",
            terms=["class:nitazene"], areas=["E08000025"], sources=["ridr"],
            detectors=["aberration"], first_seen=dt.date(2025, 3, 3),
            last_seen=dt.date(2025, 3, 9), created_at=NOW, updated_at=NOW))


def _review(session: Session, actor: str, to: str, why: str) -> AlertRow:
    """What a reviewer's request does: change the alert's state, and say so in the audit trail."""
    alert = session.get(AlertRow, ALERT_ID)
    assert alert is not None
    session.add(AuditEntry(alert_id=ALERT_ID, at=dt.datetime.now(dt.UTC), actor=actor,
                           action="status", from_value=alert.status, to_value=to, why=why))
    alert.status = to
    alert.updated_at = dt.datetime.now(dt.UTC)
    return alert


def _trail(store: Store) -> list[tuple[str, str | None, str | None]]:
    with store.session() as session:
        return [(e.actor, e.from_value, e.to_value) for e in session.execute(
            select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def test_a_write_over_a_stale_read_is_refused(open_store: Callable[[], Store]) -> None:
    first, second = open_store(), open_store()
    _seed(first)
    with pytest.raises(StaleDataError), second.session() as late:
        stale = late.get(AlertRow, ALERT_ID)
        assert stale is not None and stale.version == 1
        with first.session() as early:
            _review(early, "clinician:a", "under_review", "looking at it")
        # `late` still holds version 1: its write must not overwrite the one just committed.
        stale.status = "dismissed"
        late.add(AuditEntry(alert_id=ALERT_ID, at=NOW, actor="clinician:b", action="status",
                            from_value="new", to_value="dismissed", why="stale"))
    with first.session() as session:
        alert = session.get(AlertRow, ALERT_ID)
        assert alert is not None and (alert.status, alert.version) == ("under_review", 2)
    assert _trail(first) == [("clinician:a", "new", "under_review")]  # the loser left nothing


def test_retry_re_reads_and_applies_on_top_of_the_other_change(
        open_store: Callable[[], Store]) -> None:
    first, second = open_store(), open_store()
    _seed(first)
    interleaved = False

    def dismiss(session: Session) -> str:
        nonlocal interleaved
        alert = session.get(AlertRow, ALERT_ID)
        assert alert is not None
        if not interleaved:  # the other replica commits between our read and our write, once
            interleaved = True
            with first.session() as other:
                _review(other, "clinician:a", "under_review", "looking at it")
        _review(session, "clinician:b", "dismissed", "not a threat")
        return alert.status

    assert retry_on_conflict(second, dismiss) == "dismissed"
    assert _trail(first) == [("clinician:a", "new", "under_review"),
                             ("clinician:b", "under_review", "dismissed")]


def test_retry_gives_up_when_the_conflict_persists_and_keeps_other_errors(
        open_store: Callable[[], Store]) -> None:
    first, second = open_store(), open_store()
    _seed(first)
    tries = 0

    def always_overtaken(session: Session) -> None:
        nonlocal tries
        tries += 1
        read = session.get(AlertRow, ALERT_ID)  # held: the session keeps this version of it
        assert read is not None
        with first.session() as other:
            _review(other, "system", f"s{tries}", "meanwhile")
        _review(session, "clinician:b", "dismissed", "never lands")

    with pytest.raises(ConcurrentUpdateError, match="3 attempts"):
        retry_on_conflict(second, always_overtaken, attempts=3, backoff=0)
    assert tries == 3
    assert all(actor == "system" for actor, _, _ in _trail(first))

    def broken(session: Session) -> None:
        nonlocal tries
        tries += 1
        raise ValueError("not a conflict")

    tries = 0
    with pytest.raises(ValueError, match="not a conflict"):
        retry_on_conflict(second, broken)
    assert tries == 1


def test_many_concurrent_reviews_from_two_replicas_all_land_exactly_once(
        open_store: Callable[[], Store]) -> None:
    replicas = [open_store(), open_store()]
    _seed(replicas[0])
    workers, per_worker = 8, 10
    attempts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def comment(session: Session, note: str) -> None:
        attempts.append(1)
        alert = session.get(AlertRow, ALERT_ID)
        assert alert is not None
        time.sleep(0.002)  # a request's think time: the window in which another can overtake
        alert.terms = [*alert.terms, note]  # read-modify-write: the update a race would lose
        alert.updated_at = dt.datetime.now(dt.UTC)
        session.add(AuditEntry(alert_id=ALERT_ID, at=alert.updated_at, actor=f"worker:{note}",
                               action="comment", from_value=None, to_value=None, why=note))

    def work(n: int) -> None:
        store = replicas[n % len(replicas)]
        start.wait()
        try:
            for i in range(per_worker):
                note = f"note:{n}-{i}"
                retry_on_conflict(store, partial(comment, note=note), attempts=200, backoff=0.002)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    updates = workers * per_worker
    expected = {f"note:{n}-{i}" for n in range(workers) for i in range(per_worker)}
    with replicas[1].session() as session:
        alert = session.get(AlertRow, ALERT_ID)
        assert alert is not None
        assert alert.version == 1 + updates
        notes = alert.terms[1:]
        comments = session.execute(
            select(AuditEntry.why).where(AuditEntry.action == "comment")).scalars().all()
    assert len(notes) == updates and set(notes) == expected
    assert len(comments) == updates and set(comments) == expected
    assert len(attempts) > updates  # there were conflicts, and they were retried
