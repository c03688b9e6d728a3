"""Replaying dead letters: what could not go on gets another go once its cause is fixed.

A dead letter is named by its place in the `deadletter` topic, `"<partition>-<offset>"`, which
never changes. Replaying it does what was interrupted, with today's rules:

- an **ingest** letter (an invalid record, or one the account could not submit then) is
  validated again and checked against the submitting account as it is now (its role, its
  labs); if it passes it is accepted exactly as a new submission would be, so replaying twice,
  or replaying a record that was meanwhile sent again, counts it once (idempotency key);
  if it still fails, the letter stays where it is and the answer says why, without a second
  dead letter for the same record;
- a **normaliser** letter (an accepted record the normaliser could not turn into events) is
  appended to its `raw.<source>` topic again; event ids derive from the report's key, so a
  record normalised meanwhile changes no count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from services.api.auth.principal import Principal
from services.api.reports.service import SubmitRefused, check_source, lab_errors, letter_id
from services.api.users.service import principal_of
from services.ingest import RecordInvalid, accept, validate
from services.pipeline import EmbeddedSystem
from streams import topics
from streams.records import Accepted, DeadLetter

ReplayKind = Literal["accepted", "duplicate", "conflict", "requeued", "still_invalid",
                     "still_refused", "unknown"]


@dataclass(frozen=True)
class Replayed:
    """What replaying one dead letter did."""

    id: str
    outcome: ReplayKind
    report_id: str | None = None
    reason: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "outcome": self.outcome, "report_id": self.report_id}
        if self.reason:
            out["reason"] = self.reason
        if self.errors:
            out["errors"] = self.errors
        return out


def replay(system: EmbeddedSystem, *, ids: Iterable[str] | None = None,
           source: str | None = None, open_submitter: str | None = None) -> list[Replayed]:
    """Replay the named dead letters (or all of `source`, or all); one answer per letter.

    Args:
        open_submitter: the default submitter of an installation without accounts; a letter of
            that submitter is replayed in open mode.
    """
    wanted = None if ids is None else set(ids)
    found: list[Replayed] = []
    for message in system.transport.read_all(topics.DEADLETTER):
        name = letter_id(message)
        if wanted is not None and name not in wanted:
            continue
        if source is not None and message.value.get("source") != source:
            continue
        found.append(_replay_one(system, name, message.value, open_submitter))
        if wanted is not None:
            wanted.discard(name)
    found += [Replayed(name, "unknown", reason="no dead letter has this id")
              for name in sorted(wanted or ())]
    return found


def _replay_one(system: EmbeddedSystem, name: str, value: dict[str, Any],
                open_submitter: str | None) -> Replayed:
    try:
        letter = DeadLetter.model_validate(value)
    except ValidationError as exc:
        return Replayed(name, "still_invalid", reason=f"not a dead letter: {exc.error_count()} errors")
    if letter.stage == "normaliser":
        return _requeue(system, name, letter)
    return _resubmit(system, name, letter, open_submitter)


def _requeue(system: EmbeddedSystem, name: str, letter: DeadLetter) -> Replayed:
    try:
        accepted = Accepted.model_validate(letter.payload)
    except ValidationError:
        return Replayed(name, "still_invalid", reason="its payload is not an accepted record")
    area = accepted.record.get("area_code")
    system.transport.produce(topics.raw(accepted.source), accepted.model_dump(mode="json"),
                             key=str(area) if area else None)
    system.transport.flush()
    return Replayed(name, "requeued", accepted.report_id)


def _resubmit(system: EmbeddedSystem, name: str, letter: DeadLetter,
              open_submitter: str | None) -> Replayed:
    payload = letter.payload
    report_id = payload.get("report_id") if isinstance(payload, dict) else None
    try:
        record = validate(letter.source, payload)
    except RecordInvalid as exc:
        return Replayed(name, "still_invalid", report_id, str(exc), exc.errors)
    who = _submitter(system, letter.submitter, open_submitter)
    if who is None:
        return Replayed(name, "still_refused", report_id,
                        f"the account {letter.submitter!r} no longer exists or is disabled")
    try:
        check_source(who, letter.source)
    except SubmitRefused as exc:
        return Replayed(name, "still_refused", report_id, str(exc))
    refused = lab_errors(who, record)
    if refused:
        return Replayed(name, "still_refused", report_id, refused[0]["problem"], refused)
    (outcome,) = accept(system.store, system.transport, letter.source, who.username,
                        [(0, record)], via=f"replay:{name}")
    return Replayed(name, outcome.outcome, outcome.report_id, outcome.reason)  # type: ignore[arg-type]


def _submitter(system: EmbeddedSystem, username: str, open_submitter: str | None) -> Principal | None:
    if open_submitter is not None and username == open_submitter:
        return Principal(username=username, role=None, via="open")
    return principal_of(system.store, username)
