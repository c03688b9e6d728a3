"""The normaliser's handler: an accepted report becomes one event per substance it mentions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from services.geography import Geography
from streams.records import Accepted, Analogue, Event, stable_id
from streams.schemas import SCHEMAS, event_date, mentions


class ResolutionLike(Protocol):
    kind: str
    key: str | None
    name: str | None
    klass: str | None
    novel: bool
    analogue: Any
    error: str | None
    candidates: tuple[str, ...]
    components: tuple[Any, ...]


Resolver = Callable[[str], ResolutionLike]


def _identity(resolution: ResolutionLike) -> dict[str, Any]:
    analogue = resolution.analogue
    name = resolution.name
    if name is None and resolution.candidates:
        name = " or ".join(resolution.candidates)
    return {
        "resolution_kind": resolution.kind,
        "substance_key": resolution.key,
        "substance_name": name,
        "substance_class": resolution.klass,
        "novel": bool(resolution.novel and resolution.key),
        "analogue": Analogue(name=analogue.name, key=analogue.key, similarity=analogue.similarity)
        if analogue is not None else None,
        "resolution_error": resolution.error,
    }


def _resolve_mention(mention: Any, resolve: Resolver) -> list[tuple[str, ResolutionLike]]:
    """Resolutions of one mention: its structure first, its name if the structure fails.

    A mixture (two drugs in one SMILES, "heroin + fentanyl") gives one resolution per component.
    """
    if isinstance(mention, str):
        texts = [mention]
    else:
        texts = [text for text in (mention.smiles, mention.inchi, mention.name) if text]
    resolution = None
    text = texts[0]
    for text in texts:
        resolution = resolve(text)
        if resolution.error is None:
            break
    assert resolution is not None
    if resolution.components:
        return [(text, component) for component in resolution.components]
    return [(text, resolution)]


def normalise(accepted: Accepted, resolve: Resolver, geography: Geography) -> list[Event]:
    """Events of one accepted report, in mention order; a report naming nothing gives one event."""
    record = SCHEMAS[accepted.source].model_validate(accepted.record)
    area_code: str = record.area_code  # type: ignore[attr-defined]
    common: dict[str, Any] = {
        "report_key": accepted.key,
        "source": accepted.source,
        "submitter": accepted.submitter,
        "report_id": accepted.report_id,
        "area_code": area_code,
        "region_code": geography.region_of(area_code),
        "setting": getattr(record, "setting", None) or "unknown",
        "date": event_date(accepted.source, record),
        "received_at": accepted.received_at,
    }
    match accepted.source:
        case "ridr":
            common |= {
                "severity": record.severity,  # type: ignore[attr-defined]
                "clinical_features": list(record.clinical_features),  # type: ignore[attr-defined]
                "naloxone_response": record.naloxone_response,  # type: ignore[attr-defined]
                "sample_id": record.sample_id,  # type: ignore[attr-defined]
                "age_band": record.patient.age_band,  # type: ignore[attr-defined]
            }
        case "forensic":
            common["sample_id"] = record.sample_id  # type: ignore[attr-defined]
            sold_as = record.sold_as  # type: ignore[attr-defined]
            if sold_as:
                sold = _identity(resolve(sold_as))
                common |= {"sold_as": sold_as, "sold_as_key": sold["substance_key"],
                           "sold_as_name": sold["substance_name"],
                           "sold_as_class": sold["substance_class"]}
        case "market":
            common |= {"purity_percent": record.purity_percent,  # type: ignore[attr-defined]
                       "price_gbp": record.price_gbp,  # type: ignore[attr-defined]
                       "quantity": record.quantity,  # type: ignore[attr-defined]
                       "unit": record.unit}  # type: ignore[attr-defined]
        case "death":
            common |= {"released_from_prison_days": record.released_from_prison_days,  # type: ignore[attr-defined]
                       "age_band": record.age_band,  # type: ignore[attr-defined]
                       "severity": "fatal", "confirmed": record.status == "confirmed"}  # type: ignore[attr-defined]

    fields: list[dict[str, Any]] = []
    for mention in mentions(accepted.source, record):
        for text, resolution in _resolve_mention(mention, resolve):
            extra: dict[str, Any] = {"mention": text}
            if accepted.source == "ridr":
                extra["confirmed"] = mention.confirmed
            if accepted.source == "forensic":
                extra["purity_percent"] = mention.purity_percent
                extra["confirmed"] = True
            fields.append(common | extra | _identity(resolution))
    if not fields:
        fields.append(common)
    # Detectors judge one event at a time but must know what else was in the same sample.
    keys = sorted({f["substance_key"] for f in fields if f.get("substance_key")})
    return [
        Event(event_id=stable_id("ev", accepted.key, index), mention_index=index,
              report_substance_keys=keys, **values)
        for index, values in enumerate(fields)
    ]
