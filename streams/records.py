"""Records that flow between stages: accepted reports, events, signals and dead letters.

Identifiers are derived from content (the idempotency key, the event's position in its report,
the detector's subject and period), so a message delivered twice produces the same record twice
and every consumer can ignore the repeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def stable_id(prefix: str, *parts: object) -> str:
    """A short identifier that is the same every time for the same parts."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:20]}"


def report_key(source: str, submitter: str, report_id: str) -> str:
    """The idempotency key of DESIGN.md: (source, submitter, report_id)."""
    return f"{source}/{submitter}/{report_id}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accepted(_Frozen):
    """A validated record as appended to `raw.<source>`."""

    source: str
    submitter: str
    report_id: str
    received_at: dt.datetime
    via: str
    record: dict[str, Any]

    @property
    def key(self) -> str:
        return report_key(self.source, self.submitter, self.report_id)


class DeadLetter(_Frozen):
    """Something that could not go on, with why, kept so that it can be counted and replayed."""

    source: str
    submitter: str
    stage: Literal["ingest", "normaliser"]
    via: str
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)
    row: int | None = None
    payload: Any = None
    received_at: dt.datetime


class Analogue(_Frozen):
    name: str
    key: str
    similarity: float


class Event(_Frozen):
    """One substance mention of one report, resolved to a substance identity."""

    event_id: str
    report_key: str
    source: str
    submitter: str
    report_id: str
    area_code: str
    region_code: str
    setting: str
    date: dt.date
    received_at: dt.datetime
    mention_index: int
    mention: str | None = None
    resolution_kind: str | None = None
    substance_key: str | None = None
    substance_name: str | None = None
    substance_class: str | None = None
    novel: bool = False
    analogue: Analogue | None = None
    resolution_error: str | None = None
    confirmed: bool | None = None
    sold_as: str | None = None
    sold_as_key: str | None = None
    sold_as_name: str | None = None
    sold_as_class: str | None = None
    purity_percent: float | None = None
    severity: str | None = None
    clinical_features: list[str] = Field(default_factory=list)
    naloxone_response: str | None = None
    released_from_prison_days: int | None = None
    sample_id: str | None = None
    age_band: str | None = None
    price_gbp: float | None = None
    quantity: float | None = None
    unit: str | None = None
    report_substance_keys: list[str] = Field(default_factory=list)

    @property
    def week(self) -> dt.date:
        """Monday of the ISO week the event is counted in."""
        return self.date - dt.timedelta(days=self.date.weekday())

    @property
    def substance_label(self) -> str:
        return self.substance_name or self.substance_key or self.mention or "unidentified"


SignalSeverity = Literal["low", "medium", "high", "critical"]


class Signal(_Frozen):
    """A detector hit with its evidence; stored whether or not it becomes an alert."""

    signal_id: str
    detector: str
    method: str
    subject: Literal["substance", "class"]
    scope: Literal["national", "area"]
    substance_key: str | None = None
    substance_name: str | None = None
    substance_class: str | None = None
    novel: bool = False
    area_code: str
    region_code: str
    source: str
    period_start: dt.date
    period_end: dt.date
    observed: float | None = None
    expected: float | None = None
    threshold: float | None = None
    severity: SignalSeverity
    summary: str
    report_keys: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)
    detected_at: dt.datetime
