"""Run a simulation: background, planted threats, identifiers, files and ground truth."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.simulate.background import (
    BENIGN_MIS_SELLING_SHARE,
    NIGHTLIFE,
    SCOTLAND_BENZODIAZEPINES,
    SCOTLAND_DEATHS,
    STREET,
    StreamStats,
    death_background,
    festival_background,
    festival_calendar,
    forensic_background,
    market_background,
    ridr_background,
)
from services.simulate.catalogue import MARKET_DRUGS
from services.simulate.places import (
    BORDER_AREAS,
    CITY_DENSITY,
    DRUG_CHECKING_SETTINGS,
    DRUG_CHECKING_SITES,
    FESTIVAL_AREAS,
    LABS,
    LARGE_CITY_DENSITY,
    LARGE_CITY_POPULATION,
    URBAN_DENSITY,
    Lab,
    load_places,
)
from services.simulate.stream import FILES, GROUND_TRUTH_FILE, SOURCES, write_source
from services.simulate.threats import Threat, festival_weekend, plant_threats
from services.simulate.world import (
    FORENSIC_LAG_DAYS,
    RIDR_LAG_DAYS,
    Draft,
    SimulationError,
    World,
)

MIN_MONTHS = 6  # the threats sit in the last four months and need some history before them
MAX_SCALE = 20.0


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote."""

    out_dir: Path
    seed: int
    months: int
    scale: float
    start: dt.date
    end: dt.date
    records: dict[str, int]  # source -> records written
    threats: dict[str, dict[str, int]]  # threat id -> source -> planted records
    files: tuple[Path, ...]

    @property
    def total(self) -> int:
        return sum(self.records.values())

    def __str__(self) -> str:
        per_source = ", ".join(f"{source} {n:,}" for source, n in self.records.items())
        return (
            f"{self.total:,} records ({per_source}) from {self.start} to {self.end}, "
            f"{len(self.threats)} planted threats"
        )


def simulate(
    out_dir: Path,
    *,
    seed: int = 7,
    months: int = 12,
    end: dt.date | None = None,
    scale: float = 1.0,
) -> SimulationSummary:
    """Write a simulated stream of the four sources, with five planted threats, to `out_dir`.

    Args:
        out_dir: folder for `ridr.ndjson`, `forensic.ndjson`, `market.ndjson`, `death.ndjson`
            and `ground_truth.json` (created if missing; those files are replaced).
        seed: the same (seed, months, end, scale) always writes the same bytes.
        months: length of the window, ending on `end`.
        end: last day of the window (default: yesterday, UTC); never in the future.
        scale: multiplies every background rate (1.0: about 20,000 records a year).
    """
    today = dt.datetime.now(dt.UTC).date()
    if isinstance(end, dt.datetime):
        end = end.date()
    end = end or today - dt.timedelta(days=1)
    if end > today:
        raise SimulationError(f"end {end.isoformat()} is in the future: give a date up to {today}")
    if months < MIN_MONTHS:
        raise SimulationError(f"months={months}: give at least {MIN_MONTHS}")
    if not 0 < scale <= MAX_SCALE:
        raise SimulationError(f"scale={scale}: give a number above 0 and at most {MAX_SCALE:g}")
    world = World(
        seed=seed, start=window_start(end, months), end=end, scale=scale, places=load_places()
    )

    festival = festival_weekend(world)
    festivals = festival_calendar(world, fixed=festival)
    stats: list[StreamStats] = []
    benign: dict[str, int] = {}
    background = (
        ridr_background(world, stats)
        + forensic_background(world, stats, benign)
        + market_background(world, stats)
        + death_background(world, stats)
        + festival_background(world, festivals, festival)
    )
    threats = plant_threats(world, background, festival)
    late = sum(1 for d in background if d.arrival_day > world.end)
    drafts = [d for d in background if d.arrival_day <= world.end]
    drafts += [d for threat in threats for d in threat.drafts]

    records = assign_identifiers(drafts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {source: write_source(out_dir, source, records[source]) for source in SOURCES}
    truth = ground_truth(world, threats, stats, festivals, counts, late, benign)
    (out_dir / GROUND_TRUTH_FILE).write_text(
        json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return SimulationSummary(
        out_dir=out_dir,
        seed=seed,
        months=months,
        scale=scale,
        start=world.start,
        end=world.end,
        records=counts,
        threats={
            t.id: {s: sum(1 for d in t.drafts if d.source == s) for s in t.sources} for t in threats
        },
        files=(*tuple(out_dir / FILES[source] for source in SOURCES), out_dir / GROUND_TRUTH_FILE),
    )


def window_start(end: dt.date, months: int) -> dt.date:
    """The first day of a window of `months` calendar months ending on `end`."""
    index = end.year * 12 + end.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = min(end.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day) + dt.timedelta(days=1)


# --- identifiers ----------------------------------------------------------------------------------


def assign_identifiers(drafts: list[Draft]) -> dict[str, list[dict[str, Any]]]:
    """Give every record its report_id (and forensic results their sample_id), numbered per
    year as a registry would: ridr in order of receipt, lab results per laboratory in order of
    collection, prices in order of collection, deaths in order of notification."""
    by_source: dict[str, list[Draft]] = defaultdict(list)
    for draft in drafts:
        by_source[draft.source].append(draft)
    prefixes = {lab.lab_id: lab for lab in LABS}

    per_lab: dict[str, list[Draft]] = defaultdict(list)
    for draft in by_source["forensic"]:
        per_lab[draft.record["lab_id"]].append(draft)
    for lab_id in sorted(per_lab):
        lab: Lab = prefixes[lab_id]
        ordered = sorted(per_lab[lab_id], key=lambda d: (d.event_day, d.tiebreak))
        for draft, (year, n) in zip(ordered, _numbers(d.event_day for d in ordered), strict=True):
            draft.record = {"report_id": f"{lab.prefix}-{year}-{n:05d}", **draft.record}
            draft.record["sample_id"] = f"{lab.prefix}{year % 100:02d}-S{n:05d}"
            draft.record = _forensic_order(draft.record)

    ridr = sorted(by_source["ridr"], key=lambda d: (d.received_at, d.tiebreak))
    for draft, (year, n) in zip(ridr, _numbers(d.arrival_day for d in ridr), strict=True):
        draft.record = {"report_id": f"RIDR-{year}-{n:06d}", **draft.record}
        if draft.linked_sample is not None:
            draft.record["sample_id"] = draft.linked_sample.record["sample_id"]
    for source, prefix, key in (("market", "MKT", "event_day"), ("death", "DN", "arrival_day")):
        ordered = sorted(by_source[source], key=lambda d: (getattr(d, key), d.tiebreak))
        for draft, (year, n) in zip(
            ordered, _numbers(getattr(d, key) for d in ordered), strict=True
        ):
            draft.record = {"report_id": f"{prefix}-{year}-{n:05d}", **draft.record}
    return {source: [d.record for d in by_source[source]] for source in SOURCES}


def _numbers(days: Iterable[dt.date]) -> list[tuple[int, int]]:
    """(year, running number within that year) for each day, in order."""
    out: list[tuple[int, int]] = []
    counters: dict[int, int] = defaultdict(int)
    for day in days:
        counters[day.year] += 1
        out.append((day.year, counters[day.year]))
    return out


_FORENSIC_FIELDS = (
    "report_id",
    "lab_id",
    "sample_id",
    "collected_on",
    "analysed_on",
    "area_code",
    "setting",
    "sold_as",
    "form",
    "components",
    "method",
)


def _forensic_order(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in _FORENSIC_FIELDS if key in record}


# --- ground truth ---------------------------------------------------------------------------------


def ground_truth(
    world: World,
    threats: list[Threat],
    stats: list[StreamStats],
    festivals: list,
    counts: dict[str, int],
    late: int,
    benign: dict[str, int],
) -> dict[str, Any]:
    places = world.places
    return {
        "generator": "services.simulate",
        "seed": world.seed,
        "scale": world.scale,
        "start": world.start.isoformat(),
        "end": world.end.isoformat(),
        "records": counts,
        "threats": [_threat_json(world, threat) for threat in threats],
        "background": {
            "description": (
                "Background rates: each stream is an annual national count at scale 1, shared "
                "among districts by a weighting, modulated by season and day of week; daily counts "
                "are Poisson around that level times a gamma(shape 3) factor per district and week "
                "(negative-binomial weekly counts, mostly zero). No dangerous substance (nitazene, "
                "fentanyl, xylazine, designer benzodiazepine) is ever sold as something else in "
                "the background."
            ),
            "area_weightings": {
                "population": {
                    "rule": "Census 2011 residents (England, Wales); Scotland and Northern "
                    "Ireland: postcodes x England's people per postcode",
                },
                "street": {"rule": "population x urbanity factor", "factors": STREET},
                "nightlife": {"rule": "population x urbanity factor", "factors": NIGHTLIFE},
                "benzodiazepines": {
                    "rule": "street x country factor",
                    "factors": SCOTLAND_BENZODIAZEPINES,
                },
                "deaths": {"rule": "street x country factor", "factors": SCOTLAND_DEATHS},
                "prison": {"rule": "number of active prisons in the district"},
                "drug_checking": {
                    "rule": "population of the drug-checking sites",
                    "areas": list(DRUG_CHECKING_SITES),
                },
                "border": {"rule": "ports and airports", "areas": list(BORDER_AREAS)},
            },
            "people_per_postcode_england": round(places.people_per_postcode, 2),
            "urbanity": {
                "rule": (
                    f"city: density >= {CITY_DENSITY:g}/km2, or >= {LARGE_CITY_DENSITY:g}/km2 "
                    f"with population >= {LARGE_CITY_POPULATION}; urban: density >= "
                    f"{URBAN_DENSITY:g}/km2; else rural (land area from the district polygons)"
                ),
                "counts": {
                    kind: places.urbanity.count(kind) for kind in ("city", "urban", "rural")
                },
            },
            "seasons": {
                "winter": "opioid harms and deaths: +12% in mid-January, -12% in mid-July",
                "summer": "ketamine, psychedelics, party-drug seizures: +/-35%, peak mid-July",
                "strong_summer": "MDMA and psychedelic harms: +/-60%, peak mid-July",
                "holidays": "cocaine: a bump of up to +90% over Christmas and New Year",
                "weekend": "nightlife harms peak on Friday and Saturday",
            },
            "streams": [s.as_json() for s in stats],
            "festivals": [
                {
                    "area_code": f.area,
                    "area_name": places.name(f.area),
                    "start": f.days[0].isoformat(),
                    "end": f.days[-1].isoformat(),
                }
                for f in festivals
            ],
            "festival_areas": list(FESTIVAL_AREAS),
            "prison_areas": int((places.prisons > 0).sum()),
            "labs": {
                lab.lab_id: {"regions": list(lab.regions)}
                if lab.regions
                else {"settings": sorted(DRUG_CHECKING_SETTINGS)}
                for lab in LABS
            },
            "market_purity_mean_percent": {d.drug: d.purity.mean for d in MARKET_DRUGS},
            "market_price_gbp_per_unit": {d.drug: d.price_per_unit for d in MARKET_DRUGS},
            "reporting_delay_days": {
                "ridr": {str(k): v for k, v in RIDR_LAG_DAYS.items()},
                "forensic_triangular_low_mode_high": FORENSIC_LAG_DAYS,
                "death": "suspected 1-21 days (mode 4), confirmed 21-120 days (mode 45)",
            },
            "left_out_not_yet_arrived": late,
            "dangerous_mis_selling": 0,
            "benign_mis_selling": {
                "share": BENIGN_MIS_SELLING_SHARE,
                "what": (
                    "drug checking: sold as MDMA, cocaine or ketamine, only cutting agents found"
                ),
                "count_by_sold_as": dict(sorted(benign.items())),
            },
        },
    }


def _threat_json(world: World, threat: Threat) -> dict[str, Any]:
    report_ids: dict[str, list[str]] = {}
    for source in threat.sources:
        report_ids[source] = sorted(
            d.record["report_id"] for d in threat.drafts if d.source == source
        )
    return {
        "id": threat.id,
        "description": threat.description,
        "kind": threat.kind,
        "substance_name": threat.substance_name,
        "substance_smiles": threat.substance_smiles,
        "substance_class": threat.substance_class,
        "sold_as": threat.sold_as,
        "area_codes": threat.area_codes,
        "area_names": [world.places.name(code) for code in threat.area_codes],
        "start": threat.start.isoformat(),
        "end": threat.end.isoformat(),
        "sources": threat.sources,
        "counts": {source: len(ids) for source, ids in report_ids.items()},
        "report_ids": report_ids,
        **threat.detail,
    }
