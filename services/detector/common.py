"""Shared vocabulary of the detectors: dangerous classes and signal construction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from streams.records import Event, Signal, SignalSeverity, stable_id

# Classes whose presence in a sample sold as something else is a threat to life (DESIGN.md).
DANGEROUS_CLASSES: frozenset[str] = frozenset({"nitazene", "fentanyl_analogue", "xylazine_like"})
# Substances of these classes are cuts, impurities or unknowns, never a substitution.
INERT_CLASSES: frozenset[str | None] = frozenset({None, "other"})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_signal(
    event: Event,
    *,
    detector: str,
    method: str,
    subject: str,
    scope: str,
    severity: SignalSeverity,
    summary: str,
    id_parts: tuple[Any, ...],
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    observed: float | None = None,
    expected: float | None = None,
    threshold: float | None = None,
    report_keys: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> Signal:
    """A signal about the event's substance (or class), its id derived from `id_parts`."""
    return Signal(
        signal_id=stable_id("sig", detector, *id_parts),
        detector=detector,
        method=method,
        subject=subject,  # type: ignore[arg-type]
        scope=scope,  # type: ignore[arg-type]
        substance_key=event.substance_key if subject == "substance" else None,
        substance_name=event.substance_name if subject == "substance" else None,
        substance_class=event.substance_class,
        novel=event.novel,
        area_code=event.area_code,
        region_code=event.region_code,
        source=event.source,
        period_start=period_start or event.date,
        period_end=period_end or event.date,
        observed=observed,
        expected=expected,
        threshold=threshold,
        severity=severity,
        summary=summary,
        report_keys=report_keys if report_keys is not None else [event.report_key],
        detail=detail or {},
        detected_at=now(),
    )
