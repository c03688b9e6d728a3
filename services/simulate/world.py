"""The simulated world: its calendar, its random streams, how counts are drawn, and the drafts of
records before they get their identifiers.

Counts per district and day are Poisson around an expected level (annual rate x share of the
district x season x day of week), multiplied by a gamma factor per district and week, so that
weekly counts are negative-binomial: small, over-dispersed, mostly zero, as in real surveillance.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.simulate.catalogue import OPIOIDS, SEVERITIES, pick
from services.simulate.places import Places

UTC = dt.UTC

# Day-of-week profiles, Monday first (normalised to a mean of 1 when used).
WEEKDAY: dict[str, tuple[float, ...]] = {
    "flat": (1, 1, 1, 1, 1, 1, 1),
    "weekend": (0.6, 0.6, 0.7, 0.9, 1.4, 1.9, 1.2),
    "working": (1.15, 1.15, 1.15, 1.15, 1.1, 0.6, 0.6),
}
SEASONS: tuple[str, ...] = ("flat", "winter", "summer", "strong_summer", "holidays")
# Weekly over-dispersion: shape of the gamma factor (smaller = burstier).
DEFAULT_DISPERSION = 3.0


class SimulationError(ValueError):
    """A simulation that cannot be run as asked; the message says which argument to change."""


@dataclass(eq=False)
class Draft:
    """A record before identifiers are given: its wire fields and what the simulator knows."""

    source: str
    record: dict[str, Any]
    area: str
    event_day: dt.date
    arrival_day: dt.date
    tiebreak: float
    received_at: dt.datetime | None = None  # ridr only: the full timestamp
    threat: str | None = None
    linked_sample: Draft | None = None  # ridr -> the forensic result of its sample


@dataclass
class World:
    """One simulation run: its window, scale, places and seeded random streams."""

    seed: int
    start: dt.date
    end: dt.date
    scale: float
    places: Places
    days: list[dt.date] = field(init=False)
    day_of_year: np.ndarray = field(init=False)
    weekday: np.ndarray = field(init=False)
    week: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = (self.end - self.start).days + 1
        self.days = [self.start + dt.timedelta(days=i) for i in range(n)]
        self.day_of_year = np.array([d.timetuple().tm_yday for d in self.days], dtype=float)
        self.weekday = np.array([d.weekday() for d in self.days])
        monday = self.start - dt.timedelta(days=self.start.weekday())
        self.week = np.array([(d - monday).days // 7 for d in self.days])

    def rng(self, name: str) -> np.random.Generator:
        """A numpy stream of its own per purpose, so one part's draws never shift another's."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def rand(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{name}")

    def in_window(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    # --- expected levels and counts ---------------------------------------------------------------

    def season(self, kind: str) -> np.ndarray:
        """Seasonal factor per day of the window (mean about 1 over a year)."""
        phase = 2 * math.pi / 365.25
        doy = self.day_of_year
        match kind:
            case "flat":
                return np.ones(len(doy))
            case "winter":  # opioid harms a little higher in winter
                return 1 + 0.12 * np.cos(phase * (doy - 15))
            case "summer":  # nightlife, ketamine, psychedelics
                return 1 + 0.35 * np.cos(phase * (doy - 196))
            case "strong_summer":  # MDMA: festival season
                return 1 + 0.6 * np.cos(phase * (doy - 196))
            case "holidays":  # stimulants: Christmas and New Year
                distance = np.minimum(np.abs(doy - 360), 365.25 - np.abs(doy - 360))
                return (
                    0.93
                    + 0.08 * np.cos(phase * (doy - 350))
                    + 0.9 * np.exp(-0.5 * (distance / 6) ** 2)
                )
        raise SimulationError(f"unknown season {kind!r}; one of {', '.join(SEASONS)}")

    def expected(self, annual: float, weights: np.ndarray, season: str, weekday: str) -> np.ndarray:
        """Expected count per district (rows) and day (columns) for an annual national rate."""
        days = np.asarray(WEEKDAY[weekday], dtype=float)
        days = days / days.mean()
        per_day = self.season(season) * days[self.weekday]
        share = weights / weights.sum()
        return annual * self.scale / 365.25 * np.outer(share, per_day)

    def draw(
        self, expected: np.ndarray, rng: np.random.Generator, dispersion: float = DEFAULT_DISPERSION
    ) -> np.ndarray:
        """Counts around `expected`, over-dispersed by a gamma factor per district and week."""
        weeks = int(self.week.max()) + 1
        burst = rng.gamma(dispersion, 1 / dispersion, size=(expected.shape[0], weeks))
        return rng.poisson(expected * burst[:, self.week])

    def cells(self, counts: np.ndarray) -> list[tuple[str, dt.date]]:
        """One (district, day) per counted event, in a stable order."""
        out: list[tuple[str, dt.date]] = []
        rows, cols = np.nonzero(counts)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            out.extend([(self.places.codes[row], self.days[col])] * int(counts[row, col]))
        return out


# --- Delays between event and arrival -------------------------------------------------------------

RIDR_LAG_DAYS = {
    0: 0.3,
    1: 0.25,
    2: 0.13,
    3: 0.09,
    4: 0.06,
    5: 0.05,
    7: 0.05,
    10: 0.04,
    14: 0.02,
    21: 0.01,
}
FORENSIC_LAG_DAYS: dict[str, tuple[int, int, int]] = {  # setting -> (low, mode, high)
    "police_seizure": (5, 14, 45),
    "prison": (4, 10, 35),
    "border": (5, 12, 40),
    "festival_amnesty": (0, 1, 3),
    "drug_checking": (0, 0, 3),
    "coroner": (10, 25, 75),
    "other": (2, 7, 28),
}


def ridr_lag(rnd: random.Random) -> int:
    return int(pick(rnd, {str(k): v for k, v in RIDR_LAG_DAYS.items()}))


def forensic_lag(rnd: random.Random, setting: str) -> int:
    low, mode, high = FORENSIC_LAG_DAYS[setting]
    return round(rnd.triangular(low, high, mode))


def death_lag(rnd: random.Random, status: str) -> int:
    if status == "confirmed":
        return round(rnd.triangular(21, 120, 45))
    return round(rnd.triangular(1, 21, 4))


# --- Record builders ------------------------------------------------------------------------------

REPORTER_BY_SETTING: dict[str, dict[str, float]] = {
    "prison": {"prison_healthcare": 0.85, "nurse": 0.1, "emergency_physician": 0.05},
    "festival": {"festival_medic": 0.8, "paramedic": 0.1, "emergency_physician": 0.1},
    "nightclub": {"paramedic": 0.5, "emergency_physician": 0.4, "nurse": 0.1},
    "police_custody": {"nurse": 0.6, "emergency_physician": 0.2, "paramedic": 0.2},
    "hospital": {"emergency_physician": 0.6, "toxicologist": 0.2, "nurse": 0.2},
    "hostel": {"drug_service_worker": 0.4, "paramedic": 0.35, "emergency_physician": 0.25},
}
REPORTER_DEFAULT: dict[str, float] = {
    "emergency_physician": 0.38,
    "paramedic": 0.32,
    "nurse": 0.1,
    "drug_service_worker": 0.08,
    "gp": 0.05,
    "toxicologist": 0.04,
    "pharmacist": 0.02,
    "other": 0.01,
}
OUTCOME_BY_SEVERITY: dict[str, dict[str, float]] = {
    "mild": {"discharged": 0.88, "admitted": 0.04, "unknown": 0.08},
    "moderate": {"discharged": 0.55, "admitted": 0.4, "unknown": 0.05},
    "severe": {"admitted": 0.72, "intensive_care": 0.23, "unknown": 0.05},
    "life_threatening": {"intensive_care": 0.75, "admitted": 0.25},
    "fatal": {"died": 1.0},
}
NALOXONE_RESPONSE = {"full": 0.82, "partial": 0.14, "none": 0.04}


def age_and_sex(rnd: random.Random, ages: dict[str, float], male: float) -> tuple[str, str]:
    age = "unknown" if rnd.random() < 0.03 else pick(rnd, ages)
    draw = rnd.random()
    if draw < 0.02:
        sex = "unknown"
    elif draw < 0.025:
        sex = "other"
    else:
        sex = "male" if rnd.random() < male else "female"
    return age, sex


def naloxone(
    rnd: random.Random, mentions: list[dict], response: dict[str, float] | None = None
) -> tuple[bool | None, str | None]:
    """Whether naloxone was given and with what response; only asked about for opioids."""
    if not any(m.get("name") in OPIOIDS for m in mentions):
        return (None, None) if rnd.random() < 0.85 else (False, None)
    draw = rnd.random()
    if draw < 0.68:
        return True, pick(rnd, response or NALOXONE_RESPONSE)
    return (False, None) if draw < 0.88 else (None, None)


def outcome_for(rnd: random.Random, severity: str) -> str:
    return pick(rnd, OUTCOME_BY_SEVERITY[severity])


def escalate(severity: str, floor: str) -> str:
    return max(severity, floor, key=SEVERITIES.index)


def ridr_draft(
    rnd: random.Random,
    world: World,
    *,
    area: str,
    day: dt.date,
    setting: str,
    age_band: str,
    sex: str,
    substances: list[dict],
    features: list[str],
    severity: str,
    outcome: str,
    naloxone_given: bool | None,
    naloxone_response: str | None,
    narrative: str | None,
    reporter_role: str | None = None,
    threat: str | None = None,
) -> Draft:
    received_day = _capped(day + dt.timedelta(days=ridr_lag(rnd)), world, threat)
    received_at = dt.datetime.combine(received_day, dt.time(0), UTC) + dt.timedelta(
        minutes=rnd.randint(7 * 60, 23 * 60 + 30), seconds=rnd.randint(0, 59)
    )
    record: dict[str, Any] = {
        "received_at": received_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event_date": day.isoformat(),
        "reporter_role": reporter_role
        or pick(rnd, REPORTER_BY_SETTING.get(setting, REPORTER_DEFAULT)),
        "setting": setting,
        "area_code": area,
        "patient": {"age_band": age_band, "sex": sex},
        "substances": substances,
        "clinical_features": features,
        "severity": severity,
        "outcome": outcome,
    }
    if naloxone_given is not None:
        record["naloxone_given"] = naloxone_given
    if naloxone_response is not None:
        record["naloxone_response"] = naloxone_response
    if narrative:
        record["narrative"] = narrative
    return Draft("ridr", record, area, day, received_day, rnd.random(), received_at, threat)


def forensic_draft(
    rnd: random.Random,
    world: World,
    *,
    lab: str,
    area: str,
    day: dt.date,
    setting: str,
    sold_as: str | None,
    form: str,
    components: list[dict],
    method: str,
    lag: int | None = None,
    threat: str | None = None,
) -> Draft:
    analysed = _capped(
        day + dt.timedelta(days=forensic_lag(rnd, setting) if lag is None else lag), world, threat
    )
    record: dict[str, Any] = {
        "lab_id": lab,
        "collected_on": day.isoformat(),
        "analysed_on": analysed.isoformat(),
        "area_code": area,
        "setting": setting,
    }
    if sold_as:
        record["sold_as"] = sold_as
    record.update({"form": form, "components": components, "method": method})
    return Draft("forensic", record, area, day, analysed, rnd.random(), threat=threat)


def market_draft(
    rnd: random.Random,
    *,
    area: str,
    day: dt.date,
    drug: str,
    price_gbp: float,
    quantity: float,
    unit: str,
    purity_percent: float | None,
    source: str,
    threat: str | None = None,
) -> Draft:
    record: dict[str, Any] = {
        "collected_on": day.isoformat(),
        "area_code": area,
        "drug": drug,
        "price_gbp": price_gbp,
        "quantity": quantity,
        "unit": unit,
    }
    if purity_percent is not None:
        record["purity_percent"] = purity_percent
    record["source"] = source
    return Draft("market", record, area, day, day, rnd.random(), threat=threat)


def death_draft(
    rnd: random.Random,
    world: World,
    *,
    area: str,
    day: dt.date,
    age_band: str,
    sex: str,
    setting: str,
    substances: list[str],
    cause_icd10: list[str],
    status: str,
    released_from_prison_days: int | None = None,
    lag: int | None = None,
    threat: str | None = None,
) -> Draft:
    notified = _capped(
        day + dt.timedelta(days=death_lag(rnd, status) if lag is None else lag), world, threat
    )
    record: dict[str, Any] = {
        "date_of_death": day.isoformat(),
        "notified_on": notified.isoformat(),
        "area_code": area,
        "age_band": age_band,
        "sex": sex,
        "setting": setting,
    }
    if released_from_prison_days is not None:
        record["released_from_prison_days"] = released_from_prison_days
    record.update(
        {
            "substances": [{"name": name} for name in substances],
            "cause_icd10": cause_icd10,
            "status": status,
        }
    )
    return Draft("death", record, area, day, notified, rnd.random(), threat=threat)


def _capped(arrival: dt.date, world: World, threat: str | None) -> dt.date:
    """Planted records always arrive within the window; background ones may arrive after it
    (and are then left out, as a real feed would not have them yet)."""
    return min(arrival, world.end) if threat else arrival
