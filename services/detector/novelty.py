"""First sighting of a structure, nationally and per area."""

from __future__ import annotations

from services.detector.common import DANGEROUS_CLASSES, make_signal
from services.detector.state import NATIONAL, DetectorState
from streams.records import Event, Signal


def first_sightings(event: Event, state: DetectorState) -> list[Signal]:
    """Signals for a structure this system has never seen before, here or anywhere."""
    key = event.substance_key
    if not key:
        return []
    signals: list[Signal] = []
    label = event.substance_label
    analogue = (
        {"analogue": event.analogue.model_dump()} if event.analogue is not None else {}
    )
    detail = {"novel": event.novel, "mention": event.mention, "setting": event.setting, **analogue}
    dangerous = event.substance_class in DANGEROUS_CLASSES
    for scope, area in (("national", NATIONAL), ("area", event.area_code)):
        if not state.claim_sighting(key, area, event):
            continue
        if event.novel:
            severity = "critical" if dangerous else ("high" if scope == "national" else "medium")
            what = f"new structure (not in the reference library), class {event.substance_class}"
        else:
            # A library substance new to an area is a fact worth keeping, not a threat on its own:
            # medicinal fentanyl reaches every area through prescriptions and coroners' toxicology.
            # What makes such a substance a threat (sold as something else, a rise) has its own
            # detector.
            severity = "low"
            what = f"known substance {label}"
        where = "in the UK" if scope == "national" else f"in {event.area_code}"
        signals.append(make_signal(
            event, detector="first_sighting", method=f"first_sighting_{scope}", subject="substance",
            scope=scope, severity=severity, id_parts=(key, area),
            summary=f"First sighting {where} of {what} ({event.source}, {event.setting})",
            observed=1, detail=detail,
        ))
    return signals
