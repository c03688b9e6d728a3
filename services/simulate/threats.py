"""The five planted threats: what the system should find in the last months of the stream.

Each is placed at a fixed distance before the end of the window (so a demo always shows them
as recent), lasts a few weeks, and is sized against the background it must stand out from:
the nitazene cluster, for instance, is planted at a few times the city's usual weekly count of
opioid harms, measured on the background itself. Records of a threat are marked on their
drafts only; nothing in a written record says it was planted.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from services.geography import Prison
from services.simulate.background import (
    MARKET_BY_DRUG,
    Festival,
    draw_features,
    purchase,
)
from services.simulate.catalogue import (
    BROMAZOLAM_SMILES,
    MDMA_SMILES,
    NOVEL_CANNABINOID_SMILES,
    OPIOIDS,
    PROTONITAZENE_SMILES,
    XYLAZINE_SMILES,
    cause_codes,
    cut_components,
    narrative,
    pick,
    truncated_normal,
)
from services.simulate.places import (
    DRUG_CHECKING_LAB,
    NOVEL_STRUCTURE_METHOD,
    lab_for,
)
from services.simulate.world import (
    Draft,
    World,
    age_and_sex,
    death_draft,
    escalate,
    forensic_draft,
    outcome_for,
    ridr_draft,
)

SOURCES: tuple[str, ...] = ("ridr", "forensic", "market", "death")

NITAZENE_CITY = "E08000025"  # Birmingham
XYLAZINE_AREAS: dict[str, float] = {  # Teesside, weighted
    "E06000002": 0.45,  # Middlesbrough
    "E06000004": 0.25,  # Stockton-on-Tees
    "E06000003": 0.15,  # Redcar and Cleveland
    "E06000001": 0.15,  # Hartlepool
}
BROMAZOLAM_CITY = "S12000049"  # Glasgow City
FESTIVAL_AREA = "E06000038"  # Reading
CANNABINOID_REGION = "E12000002"  # North West
CANNABINOID_FIRST_PRISON = "FBI"  # Forest Bank, Salford
CANNABINOID_PRISONS = 6

# Where each threat starts, in days before the end of the window (moved back to a Monday).
STARTS_BEFORE_END: dict[str, int] = {
    "bromazolam_as_diazepam": 118,
    "nitazene_as_heroin": 100,
    "novel_synthetic_cannabinoid_prisons": 66,
    "xylazine_in_heroin": 52,
}
WEEKS: dict[str, int] = {
    "bromazolam_as_diazepam": 4,
    "nitazene_as_heroin": 4,
    "novel_synthetic_cannabinoid_prisons": CANNABINOID_PRISONS,
    "xylazine_in_heroin": 5,
}
# The festival weekend: the Friday nearest the August bank-holiday weekend within this window
# (days before the end); outside summer only if the window holds no summer at all.
FESTIVAL_WINDOW = (126, 30)
FESTIVAL_TARGET_DAY_OF_YEAR = 234  # about 22 August
# Weekly size of the nitazene cluster: planted = usual weekly count x excess, at least floor.
NITAZENE_EXCESS = (2.0, 3.5, 4.5, 3.0)
NITAZENE_FLOOR = (2, 4, 5, 3)
NITAZENE_NEIGHBOUR_SHARE = 0.4

_OPIOID_AGES = {
    "18-24": 0.04,
    "25-34": 0.2,
    "35-44": 0.38,
    "45-54": 0.28,
    "55-64": 0.09,
    "65+": 0.01,
}
_YOUNG = {"13-17": 0.05, "18-24": 0.5, "25-34": 0.33, "35-44": 0.1, "45-54": 0.02}
_PRISON_AGES = {"18-24": 0.3, "25-34": 0.4, "35-44": 0.22, "45-54": 0.08}
_STREET = {"home": 0.35, "public_place": 0.35, "hostel": 0.2, "community": 0.1}


@dataclass
class Threat:
    """One planted threat: its ground truth and the drafts of its records."""

    id: str
    description: str
    kind: str
    substance_name: str
    substance_smiles: str | None
    substance_class: str
    sold_as: str | None
    area_codes: list[str]
    start: dt.date
    end: dt.date
    detail: dict[str, Any] = field(default_factory=dict)
    drafts: list[Draft] = field(default_factory=list)

    def add(self, draft: Draft) -> Draft:
        draft.threat = self.id
        self.drafts.append(draft)
        return draft

    @property
    def sources(self) -> list[str]:
        present = {draft.source for draft in self.drafts}
        return [source for source in SOURCES if source in present]


def monday_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def window(world: World, threat_id: str) -> tuple[dt.date, dt.date]:
    start = monday_before(world.end - dt.timedelta(days=STARTS_BEFORE_END[threat_id]))
    return start, start + dt.timedelta(weeks=WEEKS[threat_id], days=-1)


def festival_weekend(world: World) -> Festival:
    """The planted festival: the Friday in the window nearest late August."""
    latest = world.end - dt.timedelta(days=FESTIVAL_WINDOW[1])
    day = world.end - dt.timedelta(days=FESTIVAL_WINDOW[0])
    day += dt.timedelta(days=(4 - day.weekday()) % 7)
    fridays = []
    while day <= latest:
        fridays.append(day)
        day += dt.timedelta(weeks=1)

    def distance(friday: dt.date) -> tuple[int, int]:
        gap = abs(friday.timetuple().tm_yday - FESTIVAL_TARGET_DAY_OF_YEAR)
        return min(gap, 365 - gap), -friday.toordinal()

    return Festival(FESTIVAL_AREA, min(fridays, key=distance))


# --- helpers --------------------------------------------------------------------------------------


def scaled(world: World, base: float, floor: int = 1) -> int:
    """A planted count at the world's scale, never below `floor`."""
    return max(floor, round(base * world.scale))


def day_in_week(rnd: random.Random, start: dt.date, week: int, end: dt.date) -> dt.date:
    day = start + dt.timedelta(weeks=week, days=rnd.randint(0, 6))
    return min(day, end)


def weighted_area(rnd: random.Random, weights: dict[str, float]) -> str:
    return pick(rnd, weights)


def by_population(world: World, codes: list[str], total: float) -> dict[str, float]:
    population = {code: float(world.places.population[world.places.index[code]]) for code in codes}
    whole = sum(population.values())
    return {code: total * value / whole for code, value in population.items()}


def usual_weekly(
    world: World,
    drafts: list[Draft],
    areas: set[str],
    names: set[str],
    before: dt.date,
    weeks: int = 26,
) -> float:
    """Mean weekly count of background adverse-reaction reports in `areas` naming any of `names`,
    over (up to) the `weeks` before `before`."""
    first = max(world.start, before - dt.timedelta(weeks=weeks))
    span = max(1.0, (before - first).days / 7)
    count = sum(
        1
        for d in drafts
        if d.source == "ridr"
        and d.area in areas
        and first <= d.event_day < before
        and any(m.get("name") in names for m in d.record["substances"])
    )
    return round(count / span, 3)


def mention(name: str, route: str | None = None, confirmed: bool = False) -> dict:
    out: dict = {"name": name}
    if route:
        out["route"] = route
    out["confirmed"] = confirmed
    return out


def harm(
    rnd: random.Random,
    world: World,
    threat: Threat,
    *,
    area: str,
    day: dt.date,
    substances: list[dict],
    features: dict[str, float],
    required: tuple[str, ...],
    severity: dict[str, float],
    setting: str,
    ages: dict[str, float],
    male: float,
    naloxone_response: dict[str, float] | None,
    extra: str,
    reporter_role: str | None = None,
) -> Draft:
    """One planted adverse-reaction report."""
    drawn = draw_features(rnd, features)
    chosen = list(required) + [f for f in drawn if f not in required]
    level = pick(rnd, severity)
    if "cardiac_arrest" in chosen:
        level = escalate(level, "life_threatening")
    outcome = outcome_for(rnd, level)
    given = response = None
    if naloxone_response is not None:
        given, response = True, pick(rnd, naloxone_response)
    age, sex = age_and_sex(rnd, ages, male)
    said = [m["name"] for m in substances if not m["confirmed"]]
    text = narrative(
        rnd,
        setting=setting,
        said=said,
        features=chosen,
        naloxone_response=response,
        outcome=outcome,
        extra=extra,
    )
    return threat.add(
        ridr_draft(
            rnd,
            world,
            area=area,
            day=day,
            setting=setting,
            age_band=age,
            sex=sex,
            substances=substances,
            features=chosen,
            severity=level,
            outcome=outcome,
            naloxone_given=given,
            naloxone_response=response,
            narrative=text,
            reporter_role=reporter_role,
            threat=threat.id,
        )
    )


def lab_sample(
    rnd: random.Random,
    world: World,
    threat: Threat,
    *,
    area: str,
    day: dt.date,
    setting: str,
    sold_as: str | None,
    form: str,
    components: list[dict],
    method: str | None = None,
    lag: int | None = None,
) -> Draft:
    lab = lab_for(world.places, area, setting)
    if lag is None:
        lag = 0 if setting == "drug_checking" else round(rnd.triangular(3, 14, 6))
    return threat.add(
        forensic_draft(
            rnd,
            world,
            lab=lab.lab_id,
            area=area,
            day=day,
            setting=setting,
            sold_as=sold_as,
            form=form,
            components=components,
            method=method or lab.method,
            lag=lag,
            threat=threat.id,
        )
    )


def fatality(
    rnd: random.Random,
    world: World,
    threat: Threat,
    *,
    area: str,
    day: dt.date,
    substances: list[str],
    ages: dict[str, float],
    male: float,
) -> Draft:
    age, sex = age_and_sex(rnd, ages, male)
    return threat.add(
        death_draft(
            rnd,
            world,
            area=area,
            day=day,
            age_band=age,
            sex=sex,
            setting=pick(rnd, {"home": 0.6, "public_place": 0.2, "hostel": 0.2}),
            substances=substances,
            cause_icd10=cause_codes(rnd, substances),
            status="confirmed",
            lag=round(rnd.triangular(7, 35, 14)),
            threat=threat.id,
        )
    )


def _component(name: str, purity: float | None, role: str = "active") -> dict:
    out: dict = {"name": name}
    if purity is not None:
        out["purity_percent"] = round(purity, 1)
    out["role"] = role
    return out


# --- 1. protonitazene sold as heroin --------------------------------------------------------------


def nitazene_as_heroin(world: World, background: list[Draft]) -> Threat:
    rnd = world.rand("threat/nitazene_as_heroin")
    start, end = window(world, "nitazene_as_heroin")
    ring = world.places.neighbours(NITAZENE_CITY)
    threat = Threat(
        id="nitazene_as_heroin",
        description=(
            "Protonitazene sold as heroin in Birmingham and neighbouring districts: overdoses "
            "with a poor response to naloxone, heroin samples containing protonitazene, deaths."
        ),
        kind="mis_selling",
        substance_name="protonitazene",
        substance_smiles=PROTONITAZENE_SMILES,
        substance_class="nitazene",
        sold_as="heroin",
        area_codes=[NITAZENE_CITY, *ring],
        start=start,
        end=end,
    )
    usual_city = usual_weekly(world, background, {NITAZENE_CITY}, set(OPIOIDS), start)
    usual_ring = usual_weekly(world, background, set(ring), set(OPIOIDS), start)
    threat.detail["background_weekly_opioid_harms"] = {"city": usual_city, "neighbours": usual_ring}
    ring_weights = by_population(world, ring, 1.0)

    def heroin_sample(area: str, day: dt.date, setting: str) -> Draft:
        components = [
            _component("heroin", truncated_normal(rnd, 30, 8, 10, 50)),
            _component("protonitazene", truncated_normal(rnd, 1.5, 0.7, 0.2, 4)),
            *cut_components(rnd, {"caffeine": 0.7, "paracetamol": 0.6}),
        ]
        return lab_sample(
            rnd,
            world,
            threat,
            area=area,
            day=day,
            setting=setting,
            sold_as="heroin",
            form="powder",
            components=components,
        )

    def overdose(area: str, day: dt.date) -> None:
        substances = [mention("heroin", pick(rnd, {"injected": 0.5, "smoked": 0.5}))]
        if rnd.random() < 0.2:
            substances.append(mention("crack", "smoked"))
        confirmed = rnd.random() < 0.2
        if confirmed:
            substances.append(mention("protonitazene", confirmed=True))
        doses = rnd.randint(3, 6)
        draft = harm(
            rnd,
            world,
            threat,
            area=area,
            day=day,
            substances=substances,
            features={
                "miosis": 0.6,
                "hypotension": 0.2,
                "bradycardia": 0.15,
                "cardiac_arrest": 0.08,
                "vomiting": 0.1,
            },
            required=("reduced_consciousness", "respiratory_depression"),
            severity={"severe": 0.55, "life_threatening": 0.45},
            setting=pick(rnd, _STREET),
            ages=_OPIOID_AGES,
            male=0.75,
            naloxone_response={"partial": 0.9, "none": 0.1},
            extra=f"Re-sedated between doses: {doses} doses, {doses * 0.4:.1f} mg in all.",
        )
        if confirmed and rnd.random() < 0.6:  # the drug brought in with the patient was tested
            draft.linked_sample = heroin_sample(area, day, "other")

    for week in range(WEEKS[threat.id]):
        in_city = max(NITAZENE_FLOOR[week], round(usual_city * NITAZENE_EXCESS[week]))
        in_ring = max(1, round(usual_ring * NITAZENE_EXCESS[week] * NITAZENE_NEIGHBOUR_SHARE))
        for _ in range(in_city):
            overdose(NITAZENE_CITY, day_in_week(rnd, start, week, end))
        for _ in range(in_ring):
            overdose(weighted_area(rnd, ring_weights), day_in_week(rnd, start, week, end))
        for _ in range(scaled(world, (1, 2, 3, 2)[week])):
            heroin_sample(NITAZENE_CITY, day_in_week(rnd, start, week, end), "police_seizure")
        for _ in range(scaled(world, (0, 1, 1, 1)[week], floor=0)):
            heroin_sample(
                weighted_area(rnd, ring_weights),
                day_in_week(rnd, start, week, end),
                "police_seizure",
            )
    for i in range(scaled(world, 4, floor=2)):
        area = NITAZENE_CITY if i % 4 != 3 else weighted_area(rnd, ring_weights)
        substances = ["heroin", "protonitazene"] + [
            name
            for name, p in (("diazepam", 0.3), ("pregabalin", 0.3), ("cocaine", 0.2))
            if rnd.random() < p
        ]
        fatality(
            rnd,
            world,
            threat,
            area=area,
            day=day_in_week(rnd, start, 1 + i % 3, end),
            substances=substances,
            ages=_OPIOID_AGES,
            male=0.75,
        )
    return threat


# --- 2. a novel synthetic cannabinoid spreading through prisons -----------------------------------


def novel_cannabinoid_in_prisons(world: World, background: list[Draft]) -> Threat:
    rnd = world.rand("threat/novel_synthetic_cannabinoid_prisons")
    start, end = window(world, "novel_synthetic_cannabinoid_prisons")
    prisons = _spread_order(world)
    areas: list[str] = []
    for prison in prisons:
        if prison.area_code not in areas:
            areas.append(prison.area_code)
    threat = Threat(
        id="novel_synthetic_cannabinoid_prisons",
        description=(
            "A synthetic cannabinoid in no reference library (a hex-5-enyl analogue of "
            "MDMB-4en-PINACA) on paper and herbal material in North West prisons, spreading from "
            "one establishment to the next week by week, with seizures and agitation among "
            "prisoners."
        ),
        kind="novel_substance",
        substance_name="hex-5-enyl analogue of MDMB-4en-PINACA (unnamed)",
        substance_smiles=NOVEL_CANNABINOID_SMILES,
        substance_class="synthetic_cannabinoid",
        sold_as="spice",
        area_codes=areas,
        start=start,
        end=end,
    )
    usual = usual_weekly(world, background, set(areas), {"spice"}, start)
    threat.detail["background_weekly_spice_harms"] = usual
    threat.detail["prisons"] = [
        {
            "prison_id": p.prison_id,
            "name": p.name,
            "area_code": p.area_code,
            "first_week": (start + dt.timedelta(weeks=i)).isoformat(),
        }
        for i, p in enumerate(prisons)
    ]
    for week in range(WEEKS[threat.id]):
        for joined, prison in enumerate(prisons[: week + 1]):
            new = joined == week
            for _ in range(scaled(world, rnd.randint(1, 2) if new else rnd.randint(1, 3))):
                form = pick(rnd, {"paper": 0.7, "herbal": 0.3})
                lab_sample(
                    rnd,
                    world,
                    threat,
                    area=prison.area_code,
                    day=day_in_week(rnd, start, week, end),
                    setting="prison",
                    sold_as="spice" if rnd.random() < 0.5 else None,
                    form=form,
                    components=[{"smiles": NOVEL_CANNABINOID_SMILES, "role": "active"}],
                    method=NOVEL_STRUCTURE_METHOD,
                    lag=round(rnd.triangular(4, 14, 7)),
                )
            for _ in range(scaled(world, rnd.randint(1, 3) if new else rnd.randint(2, 4))):
                harm(
                    rnd,
                    world,
                    threat,
                    area=prison.area_code,
                    day=day_in_week(rnd, start, week, end),
                    substances=[mention("spice", pick(rnd, {"smoked": 0.85, "vaped": 0.15}))],
                    features={
                        "agitation": 0.65,
                        "tachycardia": 0.75,
                        "reduced_consciousness": 0.6,
                        "vomiting": 0.25,
                        "hypertension": 0.15,
                        "hyperthermia": 0.1,
                    },
                    required=("seizure",),
                    severity={"moderate": 0.25, "severe": 0.5, "life_threatening": 0.25},
                    setting="prison",
                    ages=_PRISON_AGES,
                    male=0.97,
                    naloxone_response=None,
                    extra=rnd.choice(
                        (
                            "Several prisoners on the same wing affected.",
                            "Prolonged seizure needing benzodiazepines.",
                            "",
                        )
                    ),
                    reporter_role="prison_healthcare",
                )
    return threat


def _spread_order(world: World) -> list[Prison]:
    """Prisons of the region, from the first, nearest first (by their districts' centroids)."""
    areas = world.places.geography.areas
    region = [
        p
        for p in world.places.geography.prisons
        if areas[p.area_code].region_code == CANNABINOID_REGION
    ]
    first = next(p for p in region if p.prison_id == CANNABINOID_FIRST_PRISON)
    origin = areas[first.area_code]

    def distance(prison: Prison) -> tuple[float, str]:
        area = areas[prison.area_code]
        dx = (area.lon - origin.lon) * math.cos(math.radians(origin.lat))
        return math.hypot(dx, area.lat - origin.lat), prison.prison_id

    ordered = sorted(region, key=distance)
    chosen: list[Prison] = []
    for prison in ordered:  # one new district a week: skip a second prison of a district
        if all(p.area_code != prison.area_code for p in chosen):
            chosen.append(prison)
        if len(chosen) == CANNABINOID_PRISONS:
            break
    return chosen


# --- 3. high-purity MDMA at a festival ------------------------------------------------------------


def high_purity_mdma_festival(world: World, background: list[Draft], festival: Festival) -> Threat:
    rnd = world.rand("threat/high_purity_mdma_festival")
    threat = Threat(
        id="high_purity_mdma_festival",
        description=(
            "Very high-purity MDMA (80-90%, against a usual 45-65%) at one festival weekend: drug "
            "checking results and prices, and a spike of hyperthermia, agitation and seizures."
        ),
        kind="high_purity",
        substance_name="MDMA",
        substance_smiles=MDMA_SMILES,
        substance_class="phenethylamine",
        sold_as="MDMA",
        area_codes=[festival.area],
        start=festival.days[0],
        end=festival.days[-1],
    )
    threat.detail["festival"] = {"area_code": festival.area, "friday": festival.friday.isoformat()}
    threat.detail["background_weekly_mdma_harms"] = usual_weekly(
        world, background, {festival.area}, {"MDMA", "ecstasy"}, festival.friday
    )
    threat.detail["purity_range"] = [80, 90]

    def day() -> dt.date:
        return rnd.choices(festival.days, weights=(0.2, 0.5, 0.3))[0]

    for _ in range(scaled(world, 20, floor=8)):
        substances = [mention(pick(rnd, {"MDMA": 0.6, "ecstasy": 0.4}), "oral")]
        if rnd.random() < 0.15:  # toxicology confirmed it
            substances = [mention("MDMA", "oral", confirmed=True)]
        if rnd.random() < 0.15:
            substances.append(mention("ketamine", "snorted"))
        harm(
            rnd,
            world,
            threat,
            area=festival.area,
            day=day(),
            substances=substances,
            features={
                "agitation": 0.6,
                "seizure": 0.3,
                "mydriasis": 0.3,
                "serotonin_syndrome": 0.15,
                "hyponatraemia": 0.08,
                "rhabdomyolysis": 0.08,
            },
            required=("hyperthermia", "tachycardia"),
            severity={"moderate": 0.3, "severe": 0.45, "life_threatening": 0.25},
            setting="festival",
            ages=_YOUNG,
            male=0.6,
            naloxone_response=None,
            extra=rnd.choice(
                (
                    "Said the pills were much stronger than usual.",
                    "Friends took the same batch.",
                    "",
                )
            ),
            reporter_role=pick(
                rnd, {"festival_medic": 0.75, "emergency_physician": 0.15, "paramedic": 0.1}
            ),
        )
    for _ in range(scaled(world, 24, floor=6)):
        setting = "drug_checking" if rnd.random() < 0.5 else "festival_amnesty"
        form = pick(rnd, {"tablet": 0.5, "powder": 0.4, "capsule": 0.1})
        known = setting == "drug_checking" or rnd.random() < 0.6
        sold_as = (
            ("ecstasy" if form == "tablet" and rnd.random() < 0.7 else "MDMA") if known else None
        )
        components = [
            _component("MDMA", rnd.uniform(80, 90)),
            *cut_components(rnd, {"caffeine": 0.05}),
        ]
        lab_sample(
            rnd,
            world,
            threat,
            area=festival.area,
            day=day(),
            setting=setting,
            sold_as=sold_as,
            form=form,
            components=components,
            method=DRUG_CHECKING_LAB.method,
            lag=0 if setting == "drug_checking" else rnd.randint(0, 2),
        )
    for _ in range(scaled(world, 10, floor=4)):
        threat.add(
            purchase(
                rnd,
                world,
                MARKET_BY_DRUG["MDMA"],
                festival.area,
                day(),
                source="drug_checking",
                purity=round(rnd.uniform(80, 90), 1),
                threat=threat.id,
            )
        )
    return threat


# --- 4. xylazine in heroin ------------------------------------------------------------------------


def xylazine_in_heroin(world: World, background: list[Draft]) -> Threat:
    rnd = world.rand("threat/xylazine_in_heroin")
    start, end = window(world, "xylazine_in_heroin")
    threat = Threat(
        id="xylazine_in_heroin",
        description=(
            "Xylazine found in heroin across neighbouring Teesside districts: heroin samples cut "
            "with xylazine, overdoses with prolonged sedation, partial naloxone response and skin "
            "wounds."
        ),
        kind="adulteration",
        substance_name="xylazine",
        substance_smiles=XYLAZINE_SMILES,
        substance_class="xylazine_like",
        sold_as="heroin",
        area_codes=list(XYLAZINE_AREAS),
        start=start,
        end=end,
    )
    threat.detail["background_weekly_opioid_harms"] = usual_weekly(
        world, background, set(XYLAZINE_AREAS), set(OPIOIDS), start
    )
    for week in range(WEEKS[threat.id]):
        for _ in range(scaled(world, (2, 4, 5, 5, 3)[week])):
            substances = [mention("heroin", pick(rnd, {"injected": 0.8, "smoked": 0.2}))]
            if rnd.random() < 0.15:
                substances.append(mention("xylazine", confirmed=True))
            harm(
                rnd,
                world,
                threat,
                area=weighted_area(rnd, XYLAZINE_AREAS),
                day=day_in_week(rnd, start, week, end),
                substances=substances,
                features={
                    "respiratory_depression": 0.3,
                    "bradycardia": 0.35,
                    "hypotension": 0.3,
                    "miosis": 0.3,
                },
                required=("reduced_consciousness", "skin_wound"),
                severity={"moderate": 0.35, "severe": 0.5, "life_threatening": 0.15},
                setting=pick(rnd, _STREET),
                ages=_OPIOID_AGES,
                male=0.7,
                naloxone_response={"partial": 0.85, "none": 0.15},
                extra="Sedation persisted after breathing improved.",
            )
        for _ in range(scaled(world, (1, 3, 4, 4, 2)[week], floor=1)):
            components = [
                _component("heroin", truncated_normal(rnd, 35, 10, 10, 60)),
                _component("xylazine", truncated_normal(rnd, 10, 5, 2, 25), role="adulterant"),
                *cut_components(rnd, {"caffeine": 0.6, "paracetamol": 0.5}),
            ]
            lab_sample(
                rnd,
                world,
                threat,
                area=weighted_area(rnd, XYLAZINE_AREAS),
                day=day_in_week(rnd, start, week, end),
                setting="police_seizure" if rnd.random() < 0.7 else "other",
                sold_as="heroin",
                form="powder",
                components=components,
            )
    return threat


# --- 5. bromazolam sold as diazepam ---------------------------------------------------------------


def bromazolam_as_diazepam(world: World, background: list[Draft]) -> Threat:
    rnd = world.rand("threat/bromazolam_as_diazepam")
    start, end = window(world, "bromazolam_as_diazepam")
    ring = world.places.neighbours(BROMAZOLAM_CITY)
    threat = Threat(
        id="bromazolam_as_diazepam",
        description=(
            "Bromazolam sold as diazepam ('street valium' tablets) in Glasgow and neighbouring "
            "council areas: tablets with bromazolam and no diazepam, heavy sedation, deaths."
        ),
        kind="mis_selling",
        substance_name="bromazolam",
        substance_smiles=BROMAZOLAM_SMILES,
        substance_class="benzodiazepine",
        sold_as="diazepam",
        area_codes=[BROMAZOLAM_CITY, *ring],
        start=start,
        end=end,
    )
    threat.detail["background_weekly_diazepam_harms"] = usual_weekly(
        world, background, set(threat.area_codes), {"diazepam"}, start
    )
    weights = {BROMAZOLAM_CITY: 0.5, **by_population(world, ring, 0.5)}
    for week in range(WEEKS[threat.id]):
        for _ in range(scaled(world, (3, 5, 6, 4)[week])):
            substances = [mention("diazepam", "oral")]
            for name, p in (("heroin", 0.25), ("methadone", 0.2)):
                if rnd.random() < p:
                    substances.append(mention(name, "injected" if name == "heroin" else "oral"))
            if rnd.random() < 0.15:
                substances.append(mention("bromazolam", confirmed=True))
            opioid = any(m["name"] in OPIOIDS for m in substances)
            harm(
                rnd,
                world,
                threat,
                area=weighted_area(rnd, weights),
                day=day_in_week(rnd, start, week, end),
                substances=substances,
                features={
                    "confusion": 0.55,
                    "respiratory_depression": 0.5 if opioid else 0.2,
                    "hypotension": 0.15,
                    "other": 0.15,
                },
                required=("reduced_consciousness",),
                severity={"moderate": 0.4, "severe": 0.45, "life_threatening": 0.15},
                setting=pick(rnd, _STREET),
                ages=_OPIOID_AGES,
                male=0.65,
                naloxone_response={"partial": 0.6, "none": 0.4} if opioid else None,
                extra="Bought as street valium; prolonged sedation and amnesia.",
            )
        for _ in range(scaled(world, (2, 3, 4, 3)[week])):
            area = weighted_area(rnd, weights)
            setting = (
                "drug_checking"
                if area == BROMAZOLAM_CITY and rnd.random() < 0.4
                else "police_seizure"
            )
            lab_sample(
                rnd,
                world,
                threat,
                area=area,
                day=day_in_week(rnd, start, week, end),
                setting=setting,
                sold_as="diazepam",
                form="tablet",
                components=[_component("bromazolam", truncated_normal(rnd, 1.2, 0.4, 0.3, 2.5))],
            )
    for i in range(scaled(world, 2)):
        substances = ["bromazolam", pick(rnd, {"methadone": 0.5, "heroin": 0.5})]
        if rnd.random() < 0.3:
            substances.append("pregabalin")
        fatality(
            rnd,
            world,
            threat,
            area=BROMAZOLAM_CITY if i % 2 == 0 else weighted_area(rnd, weights),
            day=day_in_week(rnd, start, 1 + i % 3, end),
            substances=substances,
            ages=_OPIOID_AGES,
            male=0.65,
        )
    return threat


def plant_threats(world: World, background: list[Draft], festival: Festival) -> list[Threat]:
    """All five threats, in the order they start."""
    threats = [
        bromazolam_as_diazepam(world, background),
        nitazene_as_heroin(world, background),
        high_purity_mdma_festival(world, background, festival),
        novel_cannabinoid_in_prisons(world, background),
        xylazine_in_heroin(world, background),
    ]
    return sorted(threats, key=lambda t: (t.start, t.id))
