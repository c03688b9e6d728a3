"""A dangerous or different substance in a sample sold as something else."""

from __future__ import annotations

from services.detector.common import DANGEROUS_CLASSES, INERT_CLASSES, make_signal
from streams.records import Event, Signal


def mis_sold(event: Event) -> list[Signal]:
    """A signal when this component is not what the sample was sold as, and matters.

    It matters when the component is in a dangerous class (nitazene, fentanyl analogue,
    xylazine-like) whatever else is there, or when it is a psychoactive substance and what the
    sample was sold as is absent from it (a substitution, e.g. bromazolam sold as diazepam).
    Cuts and impurities (class `other` or unknown) never count.
    """
    if event.source != "forensic" or not event.sold_as or event.substance_class in INERT_CLASSES:
        return []
    if event.sold_as_key is None and event.sold_as_class is None:
        return []  # what it was sold as is not a substance we know: nothing to compare with
    if event.sold_as_key is not None:
        if event.substance_key == event.sold_as_key:
            return []
        sold_present = event.sold_as_key in event.report_substance_keys
    else:  # sold under a class name ("spice", "benzo"): only another class is a mis-sale
        if event.substance_class == event.sold_as_class:
            return []
        sold_present = False
    dangerous = event.substance_class in DANGEROUS_CLASSES
    if not dangerous and sold_present:
        return []
    if event.substance_class in ("nitazene", "fentanyl_analogue"):
        severity = "critical"
    elif dangerous or not sold_present:
        severity = "high"
    else:
        severity = "medium"
    how = "with" if sold_present else "instead of"
    sold_label = event.sold_as_name or event.sold_as
    return [make_signal(
        event, detector="adulteration", method="sold_as_mismatch", subject="substance",
        scope="area", severity=severity,  # type: ignore[arg-type]
        id_parts=(event.event_id,),
        summary=(f"{event.substance_label} ({event.substance_class}) found {how} {sold_label} "
                 f"in a sample sold as {event.sold_as!r} ({event.setting})"),
        observed=1,
        detail={"sold_as": event.sold_as, "sold_as_key": event.sold_as_key,
                "sold_as_name": event.sold_as_name, "sold_as_class": event.sold_as_class,
                "sold_as_present": sold_present, "purity_percent": event.purity_percent,
                "sample_id": event.sample_id, "sample_substance_keys": event.report_substance_keys},
    )]
