"""The alert builder: signals about one threat become one alert, updated while it is open.

A signal joins an open alert when they share a subject (a structure, a class, or what a sample
was sold as), their areas are the same or neighbours (or the alert is about a new structure,
which is one threat wherever it appears), and their periods lie within `WINDOW` of each other.
Corroboration by other sources and detectors raises the alert's confidence. Every signal is
stored with what was done with it and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.detector.state import UNCOUNTED_CLASSES
from services.geography import Geography
from services.store import AlertRow, AuditEntry, SignalRow
from streams.records import Signal, stable_id

WINDOW = dt.timedelta(days=28)
# A threat in a city reaches its neighbours and theirs (a conurbation, a county): signals up to
# this many boundary crossings from an alert's areas join it.
REACH_HOPS = 2
OPEN_STATUSES = ("new", "under_review", "confirmed", "published")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
SYSTEM_ACTOR = "system:alert-builder"


@dataclass(frozen=True)
class Decision:
    action: Literal["raise", "update", "hold", "suppress"]
    reason: str
    alert: AlertRow | None = None


def signal_terms(signal: Signal) -> set[str]:
    """What a signal is about, as terms an alert can share with it."""
    terms: set[str] = set()
    if signal.subject == "substance" and signal.substance_key:
        terms.add(f"substance:{signal.substance_key}")
    # Names too: a street name with one candidate ("ecstasy") meets its structure ("MDMA") here,
    # and every substance an alert is about becomes searchable by name.
    if signal.subject == "substance" and signal.substance_name:
        terms.add(f"name:{signal.substance_name.lower()}")
    if signal.substance_class and signal.substance_class not in UNCOUNTED_CLASSES:
        terms.add(f"class:{signal.substance_class}")
    sold_key = signal.detail.get("sold_as_key")
    if sold_key:
        terms.add(f"substance:{sold_key}")
    sold_name = signal.detail.get("sold_as_name")
    if sold_name:
        terms.add(f"name:{str(sold_name).lower()}")
    sold_class = signal.detail.get("sold_as_class")
    if sold_class and sold_class != "other":
        terms.add(f"class:{sold_class}")
    return terms


def _suppression(signal: Signal) -> str | None:
    """Why a signal, on its own, is recorded but does not deserve an alert."""
    if signal.detector == "first_sighting" and not signal.novel:
        return ("first sighting of a substance already in the reference library: recorded, "
                "not alerted")
    return None


# Detectors that test many series or windows at once: their moderate findings arise by chance
# somewhere every week, so they wait for a second source or detector before becoming an alert.
STATISTICAL_DETECTORS = frozenset({"aberration", "space_time_scan", "presentation_cluster",
                                   "death_cluster", "market"})


# Detectors whose signal names the substance itself, not only a rise in harms.
SPECIFIC_DETECTORS = frozenset({"adulteration", "first_sighting"})


def _needs_corroboration(signal: Signal) -> bool:
    if signal.detector == "aberration":
        return SEVERITY_RANK[signal.severity] < 2
    # Cluster and market findings test many windows and neighbourhoods at once: only the
    # gravest stand alone.
    return signal.detector in STATISTICAL_DETECTORS and SEVERITY_RANK[signal.severity] < 3


def signal_areas(signal: Signal) -> set[str]:
    """The areas a signal is about: its area, or every area of a cluster."""
    return {signal.area_code, *signal.detail.get("areas", [])}


def _areas_meet(alert: AlertRow, signal: Signal, geography: Geography) -> bool:
    if alert.scope == "national":
        return True
    return any(geography.within(area, code, REACH_HOPS)
               for area in alert.areas for code in signal_areas(signal))


def _periods_meet(alert: AlertRow, signal: Signal) -> bool:
    return (signal.period_start <= alert.last_seen + WINDOW
            and signal.period_end >= alert.first_seen - WINDOW)


def _corroborates(held: Signal, signal: Signal, geography: Geography) -> bool:
    """A held signal backs another one: same subject, nearby, close in time, independent."""
    return (held.signal_id != signal.signal_id
            and bool(signal_terms(held) & signal_terms(signal))
            and any(geography.within(a, b, REACH_HOPS)
                    for a in signal_areas(held) for b in signal_areas(signal))
            and held.period_start <= signal.period_end + WINDOW
            and held.period_end >= signal.period_start - WINDOW
            and (held.source, held.detector) != (signal.source, signal.detector))


def decide(signal: Signal, open_alerts: Iterable[AlertRow], held: Iterable[Signal],
           geography: Geography) -> Decision:
    """What to do with one signal, given the open alerts and held signals it might join."""
    suppressed = _suppression(signal)
    if suppressed:
        return Decision("suppress", suppressed)
    terms = signal_terms(signal)
    matches = [
        alert for alert in open_alerts
        if terms & set(alert.terms) and _areas_meet(alert, signal, geography)
        and _periods_meet(alert, signal)
    ]
    if matches:
        best = max(matches, key=lambda a: (SEVERITY_RANK[a.severity], a.last_seen))
        return Decision("update", f"same threat as open alert {best.alert_id} "
                                  f"({', '.join(sorted(terms & set(best.terms)))}; areas and "
                                  "period overlap)", best)
    if _needs_corroboration(signal):
        partners = [h for h in held if _corroborates(h, signal, geography)]
        if not partners:
            return Decision("hold", "a moderate rise in one source with nothing to corroborate it "
                                    "yet: held; a second source or detector will raise it")
        return Decision("raise", "corroborated by " + ", ".join(
            sorted({f"{h.detector}/{h.source}" for h in partners})))
    if SEVERITY_RANK[signal.severity] < 1:
        return Decision("suppress", "low severity and nothing to corroborate it")
    return Decision("raise", f"no open alert about {', '.join(sorted(terms)) or 'this subject'} "
                             "in these areas and period")


def confidence(sources: set[str], detectors: set[str], severity: str) -> float:
    """0-1: one source and detector is a lead; independent corroboration makes it a finding."""
    score = 0.35 + 0.2 * (len(sources) - 1) + 0.1 * (len(detectors) - 1)
    if severity == "critical":
        score += 0.05
    return round(min(score, 0.95), 2)


def _title(signal: Signal, geography: Geography) -> str:
    area = geography.areas.get(signal.area_code)
    where = area.name if area else signal.area_code
    what = signal.substance_name or signal.substance_class or "unidentified substance"
    match signal.detector:
        case "adulteration":
            return f"{what} in samples sold as {signal.detail.get('sold_as')} ({where})"
        case "first_sighting" if signal.novel:
            analogue = signal.detail.get("analogue") or {}
            like = f", an analogue of {analogue['name']}" if analogue.get("name") else ""
            return f"New {signal.substance_class or 'unclassified'} structure{like}, in {where}"
        case "first_sighting":
            return f"First sighting of {what} ({signal.substance_class}) in {where}"
        case "presentation_cluster":
            return f"Cluster of similar clinical presentations ({what}) around {where}"
        case "death_cluster":
            return f"Cluster of deaths involving {what} around {where}"
        case "space_time_scan":
            return f"Space-time cluster of {what} reports around {where}"
        case "market":
            return f"Unusual {signal.method.rsplit('_', 1)[-1]} of {what} in {where}"
        case _:
            return f"Rise in {what} reports ({signal.source}) in {where}"


def _open_alerts(session: Session, since: dt.date) -> list[AlertRow]:
    return list(session.execute(
        select(AlertRow).where(AlertRow.status.in_(OPEN_STATUSES), AlertRow.last_seen >= since)
    ).scalars())


def _held_signals(session: Session, since: dt.date) -> dict[str, Signal]:
    rows = session.execute(
        select(SignalRow.payload).where(SignalRow.disposition == "held", SignalRow.period_end >= since)
    ).scalars()
    return {signal.signal_id: signal for signal in map(Signal.model_validate, rows)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_alerts(session: Session, signals: Sequence[Signal], geography: Geography) -> list[str]:
    """Apply signals to the store's alerts; returns the ids of alerts raised or updated.

    Idempotent: a signal already decided (a redelivery) is skipped. A new alert takes with it
    the held signals that corroborate it.
    """
    if not signals:
        return []
    rows = {row.signal_id: row for row in session.execute(
        select(SignalRow).where(SignalRow.signal_id.in_([s.signal_id for s in signals]))).scalars()}
    since = min(s.period_start for s in signals) - WINDOW
    candidates = _open_alerts(session, since)
    held = _held_signals(session, since - WINDOW)
    touched: list[str] = []
    for signal in signals:
        row = rows.get(signal.signal_id)
        if row is None:
            # Received from the signals topic, so published already (a scaled deployment's
            # detector workers send theirs straight there; no outbox is to send it again).
            row = rows[signal.signal_id] = signal_row(signal, published=True)
            session.add(row)
        elif row.disposition != "pending":
            continue
        decision = decide(signal, candidates, held.values(), geography)
        row.reason = decision.reason
        if decision.action in ("suppress", "hold"):
            row.disposition = "suppressed" if decision.action == "suppress" else "held"
            if decision.action == "hold":
                held[signal.signal_id] = signal
            continue
        if decision.action == "update":
            alert = decision.alert
            row.disposition = "updated"
        else:
            alert = _new_alert(session, signal, geography)
            candidates.append(alert)
            row.disposition = "raised"
        assert alert is not None
        _apply(alert, signal, geography)
        row.alert_id = alert.alert_id
        if decision.action == "raise":
            _adopt_held(session, alert, signal, held, geography)
        touched.append(alert.alert_id)
    session.flush()
    return touched


def _adopt_held(session: Session, alert: AlertRow, signal: Signal, held: dict[str, Signal],
                geography: Geography) -> None:
    """Fold the held signals that corroborate a new alert into it, as its earlier evidence."""
    session.flush()
    for partner in [h for h in held.values() if _corroborates(h, signal, geography)
                    or (signal_terms(h) & set(alert.terms) and _areas_meet(alert, h, geography)
                        and _periods_meet(alert, h))]:
        row = session.get(SignalRow, partner.signal_id)
        if row is None or row.disposition != "held":
            continue
        _apply(alert, partner, geography)
        row.disposition, row.alert_id = "updated", alert.alert_id
        row.reason = f"held until corroborated by {signal.detector}/{signal.source}; now part of {alert.alert_id}"
        del held[partner.signal_id]


def signal_row(signal: Signal, *, published: bool = False) -> SignalRow:
    return SignalRow(
        signal_id=signal.signal_id, detector=signal.detector, method=signal.method,
        substance_key=signal.substance_key, substance_class=signal.substance_class,
        area_code=signal.area_code, source=signal.source, period_start=signal.period_start,
        period_end=signal.period_end, severity=signal.severity,
        payload=signal.model_dump(mode="json"), disposition="pending",
        detected_at=signal.detected_at, published=published,
    )


def _new_alert(session: Session, signal: Signal, geography: Geography) -> AlertRow:
    now = _now()
    alert = AlertRow(
        alert_id=stable_id("alert", signal.signal_id), fusion_key=sorted(signal_terms(signal))[0]
        if signal_terms(signal) else signal.signal_id,
        title=_title(signal, geography), summary=signal.summary, status="new",
        severity=signal.severity, confidence=0.0, substance_key=signal.substance_key,
        substance_name=signal.substance_name, substance_class=signal.substance_class,
        novel=signal.novel,
        scope="national" if signal.novel and signal.substance_key else "area",
        terms=[], areas=[], sources=[], detectors=[],
        first_seen=signal.period_start, last_seen=signal.period_end, created_at=now, updated_at=now,
    )
    session.add(alert)
    session.add(AuditEntry(alert_id=alert.alert_id, at=now, actor=SYSTEM_ACTOR, action="raised",
                           from_value=None, to_value="new", why=signal.summary))
    return alert


def _apply(alert: AlertRow, signal: Signal, geography: Geography) -> None:
    """Fold a signal into an alert: areas, sources, period, severity, confidence, title."""
    # An alert is named after the first signal that says what the substance is (a mis-sold
    # sample, a new structure), or a graver one of those; until there is one, after its
    # gravest signal.
    graver = SEVERITY_RANK[signal.severity] > SEVERITY_RANK[alert.severity]
    named = bool(SPECIFIC_DETECTORS & set(alert.detectors))
    leads = (signal.detector in SPECIFIC_DETECTORS and (graver or not named)) or (graver and not named)
    alert.terms = sorted(set(alert.terms) | signal_terms(signal))
    alert.areas = sorted(set(alert.areas) | signal_areas(signal))
    alert.sources = sorted(set(alert.sources) | {signal.source})
    alert.detectors = sorted(set(alert.detectors) | {signal.detector})
    alert.first_seen = min(alert.first_seen, signal.period_start)
    alert.last_seen = max(alert.last_seen, signal.period_end)
    alert.novel = alert.novel or signal.novel
    if graver:
        alert.severity = signal.severity
    if leads:
        alert.title = _title(signal, geography)
        alert.summary = signal.summary
        if signal.substance_key or signal.substance_class:
            alert.substance_key = signal.substance_key or alert.substance_key
            alert.substance_name = signal.substance_name or alert.substance_name
            alert.substance_class = signal.substance_class or alert.substance_class
    alert.confidence = confidence(set(alert.sources), set(alert.detectors), alert.severity)
    alert.updated_at = _now()
