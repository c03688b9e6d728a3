"""The background: a year of reports when nothing new is happening.

Each stream below is an annual national rate (at scale 1), spread over districts by a weighting
(population, urbanity, prisons, sites), over the year by a season and over the week by a
day-of-week profile. The background never sells a dangerous substance (nitazene, fentanyl,
xylazine, designer benzodiazepine) as something else: where it sells something other than what
was asked for, the sample holds only cutting agents (drug checking finds these).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from services.simulate.catalogue import (
    CUTS,
    MARKET_BY_DRUG,
    MARKET_DRUGS,
    RECIPES,
    TOXICOLOGY_NAME,
    MarketDrug,
    Purity,
    cause_codes,
    narrative,
    pick,
    spice_components,
    street_price,
    synthetic_cannabinoid,
)
from services.simulate.places import (
    BORDER_AREAS,
    DRUG_CHECKING_SITES,
    FESTIVAL_AREAS,
    TOXICOLOGY_METHOD,
    Places,
    lab_for,
)
from services.simulate.world import (
    Draft,
    World,
    age_and_sex,
    death_draft,
    escalate,
    forensic_draft,
    market_draft,
    naloxone,
    outcome_for,
    ridr_draft,
)

# Relative rates by urbanity: street-drug harms concentrate in cities, nightlife more so.
STREET = {"city": 1.6, "urban": 1.0, "rural": 0.55}
NIGHTLIFE = {"city": 2.5, "urban": 1.0, "rural": 0.4}
# Scotland's drug-death rate is several times the UK average, street benzodiazepines a large part
# of it (NRS, ONS): an illustrative multiplier, not a fitted one.
SCOTLAND_DEATHS = {"Scotland": 2.7}
SCOTLAND_BENZODIAZEPINES = {"Scotland": 4.0}
TOXICOLOGY_CONFIRMED_SHARE = 0.08
NARRATIVE_SHARE = 0.7
BENIGN_MIS_SELLING_SHARE = 0.03  # drug checking: sold as X, only cutting agents found


def area_weights(places: Places, kind: str) -> np.ndarray:
    """Relative weight of each district for a stream (see the module docstring)."""
    population = places.population
    match kind:
        case "population":
            return population
        case "street":
            return population * places.factor(STREET)
        case "nightlife":
            return population * places.factor(NIGHTLIFE)
        case "benzodiazepines":
            return area_weights(places, "street") * places.country_factor(SCOTLAND_BENZODIAZEPINES)
        case "deaths":
            return area_weights(places, "street") * places.country_factor(SCOTLAND_DEATHS)
        case "prison":
            return places.prisons.astype(float)
        case "drug_checking":
            return population * places.mask(DRUG_CHECKING_SITES)
        case "border":
            return places.mask(BORDER_AREAS)
    raise ValueError(f"unknown area weighting {kind!r}")


@dataclass
class StreamStats:
    """What one background stream was asked for and what it produced (for ground truth)."""

    name: str
    source: str
    annual_rate: float
    areas: str
    season: str
    weekday: str
    expected: float = 0.0
    drawn: int = 0

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "annual_rate_at_scale_1": self.annual_rate,
            "area_weighting": self.areas,
            "season": self.season,
            "weekday": self.weekday,
            "expected_events": round(self.expected, 1),
            "drawn_events": self.drawn,
        }


def _cells(world: World, stats: StreamStats, dispersion: float = 3.0) -> list[tuple[str, dt.date]]:
    expected = world.expected(
        stats.annual_rate, area_weights(world.places, stats.areas), stats.season, stats.weekday
    )
    counts = world.draw(expected, world.rng(f"{stats.source}/{stats.name}"), dispersion)
    stats.expected = float(expected.sum())
    stats.drawn = int(counts.sum())
    return world.cells(counts)


# --- RIDR: adverse reactions ----------------------------------------------------------------------

Mentions = Callable[[random.Random, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class Presentation:
    """A kind of harm: what was taken, how it presents, where and to whom."""

    name: str
    annual: float
    areas: str
    season: str
    weekday: str
    mentions: Mentions
    features: dict[str, float]
    severity: dict[str, float]
    settings: dict[str, dict[str, float]]  # by urbanity, or "any"
    ages: dict[str, float]
    male: float


def _heroin_route(rnd: random.Random) -> str:
    return pick(rnd, {"injected": 0.45, "smoked": 0.5, "unknown": 0.05})


def _with(rnd: random.Random, out: list[tuple[str, str]], p: float, name: str, route: str) -> None:
    if rnd.random() < p and name not in {n for n, _ in out}:
        out.append((name, route))


def _opioid_street(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [("heroin", _heroin_route(rnd))] if rnd.random() < 0.85 else [("methadone", "oral")]
    _with(rnd, out, 0.15, "methadone", "oral")
    _with(rnd, out, 0.25, "crack", "smoked")
    _with(rnd, out, 0.15, _street_benzodiazepine(rnd, country), "oral")
    _with(rnd, out, 0.1, "pregabalin", "oral")
    return out


def _street_benzodiazepine(rnd: random.Random, country: str) -> str:
    if country == "Scotland":  # "street valium": etizolam-heavy in Scotland
        return pick(rnd, {"diazepam": 0.45, "etizolam": 0.45, "alprazolam": 0.1})
    return pick(rnd, {"diazepam": 0.65, "etizolam": 0.15, "alprazolam": 0.15, "clonazepam": 0.05})


def _prescription_opioid(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    name = pick(
        rnd,
        {
            "oxycodone": 0.2,
            "tramadol": 0.3,
            "codeine": 0.2,
            "morphine": 0.1,
            "buprenorphine": 0.1,
            "fentanyl": 0.1,
        },
    )
    out = [(name, "other" if name == "fentanyl" else "oral")]
    _with(rnd, out, 0.15, "pregabalin", "oral")
    _with(rnd, out, 0.1, "zopiclone", "oral")
    _with(rnd, out, 0.1, "diazepam", "oral")
    return out


def _crack(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [("crack", "smoked")]
    _with(rnd, out, 0.35, "heroin", _heroin_route(rnd))
    return out


def _cocaine(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [("cocaine", "snorted")]
    _with(rnd, out, 0.1, "MDMA", "oral")
    _with(rnd, out, 0.08, "ketamine", "snorted")
    return out


def _mdma(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [(pick(rnd, {"MDMA": 0.55, "ecstasy": 0.45}), "oral")]
    _with(rnd, out, 0.15, "cocaine", "snorted")
    _with(rnd, out, 0.15, "ketamine", "snorted")
    return out


def _ketamine(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [("ketamine", "snorted")]
    _with(rnd, out, 0.2, "MDMA", "oral")
    _with(rnd, out, 0.15, "cocaine", "snorted")
    return out


def _amphetamine(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    name = pick(rnd, {"amphetamine": 0.45, "speed": 0.45, "methamphetamine": 0.1})
    return [(name, pick(rnd, {"oral": 0.4, "snorted": 0.4, "injected": 0.15, "smoked": 0.05}))]


def _benzodiazepine(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    name = _street_benzodiazepine(rnd, country) if rnd.random() < 0.95 else "zopiclone"
    out = [(name, "oral")]
    _with(rnd, out, 0.3, "heroin", _heroin_route(rnd))
    _with(rnd, out, 0.2, "methadone", "oral")
    _with(rnd, out, 0.15, "pregabalin", "oral")
    return out


def _gabapentinoid(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    out = [(pick(rnd, {"pregabalin": 0.7, "gabapentin": 0.3}), "oral")]
    _with(rnd, out, 0.3, "methadone", "oral")
    _with(rnd, out, 0.25, "heroin", _heroin_route(rnd))
    _with(rnd, out, 0.2, "diazepam", "oral")
    return out


def _spice(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    return [("spice", pick(rnd, {"smoked": 0.85, "vaped": 0.15}))]


def _cannabis(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    route = pick(rnd, {"smoked": 0.7, "oral": 0.2, "vaped": 0.1})
    return [("THC" if route != "smoked" and rnd.random() < 0.5 else "cannabis", route)]


def _psychedelic(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    name = pick(rnd, {"LSD": 0.35, "psilocin": 0.3, "2C-B": 0.2, "DMT": 0.15})
    return [(name, "smoked" if name == "DMT" else "oral")]


def _cathinone(rnd: random.Random, country: str) -> list[tuple[str, str]]:
    name = pick(rnd, {"mephedrone": 0.6, "alpha-PVP": 0.4})
    return [(name, pick(rnd, {"snorted": 0.6, "injected": 0.2, "smoked": 0.2}))]


# fmt: off
_ADULT = {"18-24": 0.1, "25-34": 0.25, "35-44": 0.3, "45-54": 0.22, "55-64": 0.1, "65+": 0.03}
_OPIOID_AGES = {"18-24": 0.04, "25-34": 0.2, "35-44": 0.38, "45-54": 0.28, "55-64": 0.09,
                "65+": 0.01}
_OLDER = {"25-34": 0.1, "35-44": 0.2, "45-54": 0.28, "55-64": 0.25, "65+": 0.17}
_YOUNG = {"13-17": 0.06, "18-24": 0.48, "25-34": 0.32, "35-44": 0.1, "45-54": 0.04}
_NIGHTLIFE_AGES = {"13-17": 0.02, "18-24": 0.48, "25-34": 0.32, "35-44": 0.14, "45-54": 0.04}
_CANNABIS_AGES = {"13-17": 0.15, "18-24": 0.4, "25-34": 0.25, "35-44": 0.12, "45-54": 0.06,
                  "55-64": 0.02}
_PRISON_AGES = {"18-24": 0.3, "25-34": 0.4, "35-44": 0.22, "45-54": 0.08}
_MILD = {"mild": 0.45, "moderate": 0.4, "severe": 0.13, "life_threatening": 0.02}
_MODERATE = {"mild": 0.25, "moderate": 0.45, "severe": 0.25, "life_threatening": 0.05}
_OPIOID_SEVERITY = {"mild": 0.1, "moderate": 0.35, "severe": 0.4, "life_threatening": 0.14,
                    "fatal": 0.01}
_STREET_SETTINGS = {"any": {"home": 0.35, "public_place": 0.3, "hostel": 0.15, "community": 0.15,
                            "police_custody": 0.03, "other": 0.02}}
_ROUGH_SLEEPING_SETTINGS = {"any": {"public_place": 0.5, "hostel": 0.3, "community": 0.15,
                                    "police_custody": 0.05}}
_NIGHT_SETTINGS = {  # nightclubs are where the nightclubs are: in cities
    "city": {"nightclub": 0.4, "home": 0.25, "public_place": 0.3, "other": 0.05},
    "urban": {"nightclub": 0.2, "home": 0.4, "public_place": 0.35, "other": 0.05},
    "rural": {"nightclub": 0.1, "home": 0.5, "public_place": 0.35, "other": 0.05},
}
_HOME_SETTINGS = {"any": {"home": 0.7, "community": 0.12, "public_place": 0.1, "other": 0.08}}
_PRESCRIPTION_SETTINGS = {"any": {"home": 0.75, "community": 0.1, "hospital": 0.1, "other": 0.05}}
# fmt: on

# fmt: off
PRESENTATIONS: tuple[Presentation, ...] = (
    Presentation(
        "opioids_street", annual=2600, areas="street", season="winter", weekday="flat",
        mentions=_opioid_street,
        features={"reduced_consciousness": 0.9, "respiratory_depression": 0.55, "miosis": 0.45,
                  "vomiting": 0.1, "hypotension": 0.1, "confusion": 0.1, "cardiac_arrest": 0.03},
        severity=_OPIOID_SEVERITY, settings=_STREET_SETTINGS, ages=_OPIOID_AGES, male=0.75,
    ),
    Presentation(
        "opioids_prescription", annual=500, areas="population", season="flat", weekday="flat",
        mentions=_prescription_opioid,
        features={"reduced_consciousness": 0.8, "respiratory_depression": 0.35, "miosis": 0.3,
                  "vomiting": 0.15, "confusion": 0.2, "seizure": 0.04},
        severity=_MODERATE, settings=_PRESCRIPTION_SETTINGS, ages=_OLDER, male=0.45,
    ),
    Presentation(
        "crack", annual=700, areas="street", season="flat", weekday="flat", mentions=_crack,
        features={"tachycardia": 0.6, "agitation": 0.5, "chest_pain": 0.35, "hypertension": 0.3,
                  "psychosis": 0.2, "confusion": 0.1, "seizure": 0.05},
        severity=_MODERATE, settings=_STREET_SETTINGS, ages=_OPIOID_AGES, male=0.72,
    ),
    Presentation(
        "cocaine_nightlife", annual=1300, areas="nightlife", season="holidays", weekday="weekend",
        mentions=_cocaine,
        features={"tachycardia": 0.7, "agitation": 0.45, "chest_pain": 0.35, "hypertension": 0.3,
                  "vomiting": 0.1, "hyperthermia": 0.05, "psychosis": 0.05, "seizure": 0.03,
                  "other": 0.1},
        severity=_MILD, settings=_NIGHT_SETTINGS, ages=_NIGHTLIFE_AGES, male=0.7,
    ),
    Presentation(
        "mdma", annual=600, areas="nightlife", season="strong_summer", weekday="weekend",
        mentions=_mdma,
        features={"tachycardia": 0.7, "agitation": 0.45, "hyperthermia": 0.3, "mydriasis": 0.3,
                  "confusion": 0.15, "vomiting": 0.1, "seizure": 0.06, "hyponatraemia": 0.05,
                  "serotonin_syndrome": 0.03},
        severity=_MILD, settings=_NIGHT_SETTINGS, ages=_YOUNG, male=0.62,
    ),
    Presentation(
        "ketamine", annual=450, areas="nightlife", season="summer", weekday="weekend",
        mentions=_ketamine,
        features={"reduced_consciousness": 0.45, "confusion": 0.45, "vomiting": 0.2,
                  "hallucinations": 0.2, "tachycardia": 0.2, "agitation": 0.15, "other": 0.1},
        severity=_MILD, settings=_NIGHT_SETTINGS, ages=_YOUNG, male=0.64,
    ),
    Presentation(
        "amphetamines", annual=350, areas="street", season="flat", weekday="flat",
        mentions=_amphetamine,
        features={"tachycardia": 0.6, "agitation": 0.55, "psychosis": 0.35, "hypertension": 0.25,
                  "chest_pain": 0.1, "hyperthermia": 0.05, "seizure": 0.03},
        severity=_MODERATE, settings=_STREET_SETTINGS, ages=_ADULT, male=0.7,
    ),
    Presentation(
        "benzodiazepines", annual=700, areas="benzodiazepines", season="flat", weekday="flat",
        mentions=_benzodiazepine,
        features={"reduced_consciousness": 0.85, "confusion": 0.45,
                  "respiratory_depression": 0.15, "hypotension": 0.1},
        severity=_MODERATE, settings=_STREET_SETTINGS, ages=_OPIOID_AGES, male=0.68,
    ),
    Presentation(
        "gabapentinoids", annual=300, areas="street", season="flat", weekday="flat",
        mentions=_gabapentinoid,
        features={"reduced_consciousness": 0.8, "confusion": 0.4, "respiratory_depression": 0.2},
        severity=_MODERATE, settings=_STREET_SETTINGS, ages=_OPIOID_AGES, male=0.66,
    ),
    Presentation(
        "spice_prison", annual=1100, areas="prison", season="flat", weekday="flat",
        mentions=_spice,
        features={"tachycardia": 0.55, "reduced_consciousness": 0.5, "agitation": 0.45,
                  "seizure": 0.3, "vomiting": 0.3, "psychosis": 0.2, "confusion": 0.2,
                  "hypertension": 0.1},
        severity=_MODERATE, settings={"any": {"prison": 1.0}}, ages=_PRISON_AGES, male=0.95,
    ),
    Presentation(
        "spice_street", annual=300, areas="street", season="flat", weekday="flat",
        mentions=_spice,
        features={"reduced_consciousness": 0.6, "tachycardia": 0.4, "agitation": 0.35,
                  "vomiting": 0.3, "seizure": 0.2, "psychosis": 0.15},
        severity=_MODERATE, settings=_ROUGH_SLEEPING_SETTINGS, ages=_ADULT, male=0.85,
    ),
    Presentation(
        "cannabis", annual=600, areas="population", season="flat", weekday="weekend",
        mentions=_cannabis,
        features={"tachycardia": 0.45, "vomiting": 0.35, "other": 0.25, "psychosis": 0.2,
                  "agitation": 0.2, "confusion": 0.15, "chest_pain": 0.05,
                  "hallucinations": 0.05},
        severity={"mild": 0.55, "moderate": 0.38, "severe": 0.07}, settings=_HOME_SETTINGS,
        ages=_CANNABIS_AGES, male=0.66,
    ),
    Presentation(
        "psychedelics", annual=200, areas="nightlife", season="strong_summer", weekday="weekend",
        mentions=_psychedelic,
        features={"hallucinations": 0.75, "agitation": 0.4, "confusion": 0.3,
                  "tachycardia": 0.3, "mydriasis": 0.2, "psychosis": 0.15},
        severity={"mild": 0.5, "moderate": 0.4, "severe": 0.1}, settings=_NIGHT_SETTINGS,
        ages=_YOUNG, male=0.68,
    ),
    Presentation(
        "cathinones", annual=200, areas="street", season="flat", weekday="flat",
        mentions=_cathinone,
        features={"agitation": 0.6, "tachycardia": 0.6, "psychosis": 0.4, "hypertension": 0.2,
                  "chest_pain": 0.1, "hyperthermia": 0.1, "seizure": 0.05},
        severity=_MODERATE, settings=_STREET_SETTINGS, ages=_ADULT, male=0.72,
    ),
)
# fmt: on


def ridr_mentions(rnd: random.Random, pairs: list[tuple[str, str]], confirmed: bool) -> list[dict]:
    """Substance mentions as reported: said names, or toxicology names when confirmed."""
    out: list[dict] = []
    for name, route in pairs:
        if confirmed:
            name = (
                synthetic_cannabinoid(rnd) if name == "spice" else TOXICOLOGY_NAME.get(name, name)
            )
        if any(m["name"] == name for m in out):
            continue
        mention: dict = {"name": name}
        if route:
            mention["route"] = route
        mention["confirmed"] = confirmed
        out.append(mention)
    return out


def draw_features(rnd: random.Random, probabilities: dict[str, float]) -> list[str]:
    features = [f for f, p in probabilities.items() if rnd.random() < p]
    return features or [max(probabilities, key=probabilities.__getitem__)]


def presentation_case(
    rnd: random.Random,
    world: World,
    p: Presentation,
    area: str,
    day: dt.date,
    setting: str | None = None,
) -> Draft:
    """One background adverse-reaction report of presentation `p`."""
    country = world.places.geography.areas[area].country
    urbanity = world.places.urbanity[world.places.index[area]]
    setting = setting or pick(rnd, p.settings.get(urbanity) or p.settings["any"])
    pairs = p.mentions(rnd, country)
    said = [name for name, _ in pairs]
    substances = ridr_mentions(rnd, pairs, rnd.random() < TOXICOLOGY_CONFIRMED_SHARE)
    features = draw_features(rnd, p.features)
    severity = pick(rnd, p.severity)
    if "cardiac_arrest" in features:
        severity = escalate(severity, "life_threatening")
    elif "respiratory_depression" in features or "seizure" in features:
        severity = escalate(severity, "moderate")
    outcome = outcome_for(rnd, severity)
    given, response = naloxone(rnd, substances)
    age, sex = age_and_sex(rnd, p.ages, p.male)
    text = (
        narrative(
            rnd,
            setting=setting,
            said=said,
            features=features,
            naloxone_response=response,
            outcome=outcome,
        )
        if rnd.random() < NARRATIVE_SHARE
        else None
    )
    return ridr_draft(
        rnd,
        world,
        area=area,
        day=day,
        setting=setting,
        age_band=age,
        sex=sex,
        substances=substances,
        features=features,
        severity=severity,
        outcome=outcome,
        naloxone_given=given,
        naloxone_response=response,
        narrative=text,
    )


def ridr_background(world: World, stats: list[StreamStats]) -> list[Draft]:
    drafts: list[Draft] = []
    for p in PRESENTATIONS:
        stream = StreamStats(p.name, "ridr", p.annual, p.areas, p.season, p.weekday)
        stats.append(stream)
        rnd = world.rand(f"ridr/{p.name}")
        drafts.extend(
            presentation_case(rnd, world, p, area, day) for area, day in _cells(world, stream)
        )
    return drafts


# --- Forensic results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleStream:
    """Samples of one setting: what is in them, where they come from, how often sold_as is known."""

    name: str
    setting: str
    annual: float
    areas: str
    season: str
    products: dict[str, float]  # a RECIPES key, "spice" or "toxicology"
    sold_as_known: float
    weekday: str = "flat"


# fmt: off
SAMPLE_STREAMS: tuple[SampleStream, ...] = (
    SampleStream("police_opioids", "police_seizure", annual=640, areas="street", season="flat",
                 products={"heroin": 0.9, "methadone": 0.03, "oxycodone": 0.03, "tramadol": 0.04},
                 sold_as_known=0.45),
    SampleStream("police_cocaine", "police_seizure", annual=700, areas="nightlife",
                 season="holidays", products={"cocaine": 1.0}, sold_as_known=0.45),
    SampleStream("police_crack", "police_seizure", annual=300, areas="street", season="flat",
                 products={"crack": 1.0}, sold_as_known=0.5),
    SampleStream("police_cannabis", "police_seizure", annual=500, areas="population",
                 season="flat", products={"cannabis": 1.0}, sold_as_known=0.6),
    SampleStream("police_party_drugs", "police_seizure", annual=440, areas="nightlife",
                 season="summer",
                 products={"MDMA": 0.5, "ketamine": 0.4, "2C-B": 0.03, "LSD": 0.04,
                           "psilocin": 0.03},
                 sold_as_known=0.4),
    SampleStream("police_stimulants", "police_seizure", annual=160, areas="street", season="flat",
                 products={"amphetamine": 0.8, "methamphetamine": 0.05, "mephedrone": 0.1,
                           "alpha-PVP": 0.05},
                 sold_as_known=0.4),
    SampleStream("police_sedatives", "police_seizure", annual=150, areas="benzodiazepines",
                 season="flat",
                 products={"diazepam": 0.5, "etizolam": 0.25, "alprazolam": 0.12,
                           "clonazepam": 0.05, "pregabalin": 0.08},
                 sold_as_known=0.5),
    SampleStream("police_spice", "police_seizure", annual=60, areas="street", season="flat",
                 products={"spice": 1.0}, sold_as_known=0.5),
    SampleStream("prison_spice", "prison", annual=600, areas="prison", season="flat",
                 products={"spice": 1.0}, sold_as_known=0.5),
    SampleStream("prison_other", "prison", annual=200, areas="prison", season="flat",
                 products={"buprenorphine": 0.4, "cannabis": 0.25, "heroin": 0.15,
                           "pregabalin": 0.12, "tramadol": 0.08},
                 sold_as_known=0.3),
    SampleStream("border", "border", annual=150, areas="border", season="flat",
                 products={"cocaine": 0.6, "cannabis": 0.15, "heroin": 0.1, "ketamine": 0.1,
                           "MDMA": 0.05},
                 sold_as_known=0.15),
    SampleStream("drug_checking", "drug_checking", annual=400, areas="drug_checking",
                 season="flat", weekday="working",
                 products={"MDMA": 0.28, "cocaine": 0.25, "ketamine": 0.2, "heroin": 0.07,
                           "diazepam": 0.05, "2C-B": 0.04, "amphetamine": 0.04, "LSD": 0.03,
                           "mephedrone": 0.02, "alprazolam": 0.02},
                 sold_as_known=1.0),
    SampleStream("coroner_toxicology", "coroner", annual=400, areas="deaths", season="winter",
                 products={"toxicology": 1.0}, sold_as_known=0.0),
    SampleStream("other", "other", annual=100, areas="population", season="flat",
                 products={"heroin": 0.2, "cocaine": 0.3, "cannabis": 0.2, "MDMA": 0.1,
                           "ketamine": 0.1, "diazepam": 0.1},
                 sold_as_known=0.5),
)
# fmt: on
# Wholesale purity at the border is higher than on the street.
BORDER_PURITY: dict[str, Purity] = {
    "cocaine": Purity(80, 8, 40, 98),
    "heroin": Purity(60, 10, 30, 85),
}
SPICE_FORMS: dict[str, dict[str, float]] = {
    "prison": {"paper": 0.65, "herbal": 0.25, "e_liquid": 0.1},
    "other": {"herbal": 0.8, "paper": 0.1, "e_liquid": 0.1},
}


def sold_as_name(rnd: random.Random, product: str, form: str) -> str:
    """The name a product is sold under (street names included)."""
    if product == "MDMA":
        return "ecstasy" if form == "tablet" and rnd.random() < 0.7 else "MDMA"
    return rnd.choice(RECIPES[product].sold_as)


def sample(
    rnd: random.Random,
    world: World,
    stream: SampleStream,
    area: str,
    day: dt.date,
    product: str | None = None,
    purity: float | None = None,
    stats: dict | None = None,
) -> Draft:
    """One background forensic result."""
    lab = lab_for(world.places, area, stream.setting)
    product = product or pick(rnd, stream.products)
    known = rnd.random() < stream.sold_as_known
    if product == "toxicology":
        # Post-mortem toxicology: the substances of a death of the usual patterns.
        pattern = rnd.choices(DEATH_PATTERNS[:-1], weights=[p.annual for p in DEATH_PATTERNS[:-1]])[
            0
        ]
        substances = death_substances(rnd, world.places.geography.areas[area].country, pattern)
        components = [{"name": name, "role": "detected"} for name in substances]
        return forensic_draft(
            rnd,
            world,
            lab=lab.lab_id,
            area=area,
            day=day,
            setting=stream.setting,
            sold_as=None,
            form="liquid",
            components=components,
            method=TOXICOLOGY_METHOD,
        )
    if product == "spice":
        form = pick(rnd, SPICE_FORMS["prison" if stream.setting == "prison" else "other"])
        return forensic_draft(
            rnd,
            world,
            lab=lab.lab_id,
            area=area,
            day=day,
            setting=stream.setting,
            sold_as="spice" if known else None,
            form=form,
            components=spice_components(rnd, form),
            method=lab.method,
        )
    recipe = RECIPES[product]
    form = pick(rnd, recipe.forms)
    if stream.setting == "border" and product in BORDER_PURITY:
        purity = purity if purity is not None else BORDER_PURITY[product].draw(rnd)
    components = recipe.components(rnd, purity)
    if (
        stream.setting in ("drug_checking", "festival_amnesty")
        and product in ("MDMA", "cocaine", "ketamine")
        and rnd.random() < BENIGN_MIS_SELLING_SHARE
    ):
        components = [{"name": cut, "role": "cutting_agent"} for cut in rnd.sample(CUTS, 2)]
        if stats is not None:
            stats[product] = stats.get(product, 0) + 1
    return forensic_draft(
        rnd,
        world,
        lab=lab.lab_id,
        area=area,
        day=day,
        setting=stream.setting,
        sold_as=sold_as_name(rnd, product, form) if known else None,
        form=form,
        components=components,
        method=lab.method,
    )


def forensic_background(
    world: World, stats: list[StreamStats], benign: dict[str, int]
) -> list[Draft]:
    drafts: list[Draft] = []
    for stream in SAMPLE_STREAMS:
        stream_stats = StreamStats(
            stream.name, "forensic", stream.annual, stream.areas, stream.season, stream.weekday
        )
        stats.append(stream_stats)
        rnd = world.rand(f"forensic/{stream.name}")
        drafts.extend(
            sample(rnd, world, stream, area, day, stats=benign)
            for area, day in _cells(world, stream_stats)
        )
    return drafts


# --- Market: price and purity ---------------------------------------------------------------------

MARKET_SOURCES = {"test_purchase": 0.35, "seizure": 0.3, "survey": 0.35}
MARKET_SOURCES_AT_SITES = {
    "test_purchase": 0.3,
    "seizure": 0.25,
    "survey": 0.3,
    "drug_checking": 0.15,
}
LONDON = "E12000007"
LONDON_PRICE_FACTOR = 1.1
MARKET_AREAS = {"cannabis": "population", "MDMA": "nightlife", "ketamine": "nightlife"}
MARKET_SEASONS = {"MDMA": "summer", "ketamine": "summer", "cocaine": "holidays"}


def purchase(
    rnd: random.Random,
    world: World,
    spec: MarketDrug,
    area: str,
    day: dt.date,
    source: str | None = None,
    purity: float | None = None,
    threat: str | None = None,
) -> Draft:
    """One price (and, unless a survey, purity) observation."""
    if source is None:
        sources = MARKET_SOURCES_AT_SITES if area in DRUG_CHECKING_SITES else MARKET_SOURCES
        source = pick(rnd, sources)
    factor = LONDON_PRICE_FACTOR if world.places.region(area) == LONDON else 1.0
    if spec.tablet_share and rnd.random() < spec.tablet_share:
        unit, quantity = "tablet", float(rnd.choice((1, 1, 1, 2, 5, 10)))
        price = street_price(rnd, spec.tablet_price * factor, quantity)
    else:
        unit = spec.unit
        quantity = float(
            rnd.choices(list(spec.quantities), weights=list(spec.quantities.values()))[0]
        )
        price = street_price(rnd, spec.price_per_unit * factor, quantity)
    if source == "survey":
        purity = None
    elif purity is None:
        purity = spec.purity.draw(rnd)
    return market_draft(
        rnd,
        area=area,
        day=day,
        drug=spec.drug,
        price_gbp=price,
        quantity=quantity,
        unit=unit,
        purity_percent=purity,
        source=source,
        threat=threat,
    )


def market_background(world: World, stats: list[StreamStats]) -> list[Draft]:
    drafts: list[Draft] = []
    for spec in MARKET_DRUGS:
        stream = StreamStats(
            f"market_{spec.drug}",
            "market",
            spec.annual,
            MARKET_AREAS.get(spec.drug, "street"),
            MARKET_SEASONS.get(spec.drug, "flat"),
            "working",
        )
        stats.append(stream)
        rnd = world.rand(f"market/{spec.drug}")
        drafts.extend(purchase(rnd, world, spec, area, day) for area, day in _cells(world, stream))
    return drafts


# --- Deaths ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeathPattern:
    name: str
    annual: float
    areas: str
    season: str
    primary: dict[str, float]
    also: dict[str, float]  # other substance -> probability
    ages: dict[str, float]
    male: float
    settings: dict[str, float]
    released_share: float = 0.0


# fmt: off
_DEATH_SETTINGS = {"home": 0.6, "hostel": 0.1, "public_place": 0.15, "hospital": 0.1,
                   "other": 0.05}
_DEATH_AGES = {"18-24": 0.03, "25-34": 0.14, "35-44": 0.32, "45-54": 0.33, "55-64": 0.15,
               "65+": 0.03}
DEATH_PATTERNS: tuple[DeathPattern, ...] = (
    DeathPattern(
        "opioids", annual=850, areas="deaths", season="winter",
        primary={"heroin": 0.6, "methadone": 0.3, "morphine": 0.03, "oxycodone": 0.03,
                 "buprenorphine": 0.02, "fentanyl": 0.02},
        also={"street_benzodiazepine": 0.35, "cocaine": 0.3, "pregabalin": 0.25,
              "methadone": 0.2, "gabapentin": 0.08},
        ages=_DEATH_AGES, male=0.72, settings=_DEATH_SETTINGS, released_share=0.05,
    ),
    DeathPattern(
        "stimulants", annual=200, areas="deaths", season="holidays",
        primary={"cocaine": 0.8, "amphetamine": 0.08, "MDMA": 0.08, "methamphetamine": 0.04},
        also={"heroin": 0.3, "street_benzodiazepine": 0.1, "ketamine": 0.05},
        ages={"18-24": 0.1, "25-34": 0.3, "35-44": 0.3, "45-54": 0.22, "55-64": 0.08},
        male=0.8, settings=_DEATH_SETTINGS,
    ),
    DeathPattern(
        "sedatives", annual=200, areas="benzodiazepines", season="flat",
        primary={"street_benzodiazepine": 0.75, "pregabalin": 0.2, "zopiclone": 0.05},
        also={"methadone": 0.35, "heroin": 0.25, "gabapentin": 0.1},
        ages=_DEATH_AGES, male=0.66, settings=_DEATH_SETTINGS,
    ),
    DeathPattern(
        "prescription", annual=100, areas="population", season="flat",
        primary={"tramadol": 0.3, "oxycodone": 0.2, "codeine": 0.2, "morphine": 0.1,
                 "fentanyl": 0.1, "zopiclone": 0.1},
        also={"diazepam": 0.2, "pregabalin": 0.2, "zopiclone": 0.1},
        ages={"25-34": 0.08, "35-44": 0.17, "45-54": 0.3, "55-64": 0.28, "65+": 0.17},
        male=0.5, settings={"home": 0.85, "hospital": 0.1, "other": 0.05},
    ),
    DeathPattern(
        "prison", annual=30, areas="prison", season="flat",
        primary={"synthetic_cannabinoid": 0.5, "heroin": 0.3, "buprenorphine": 0.2},
        also={"pregabalin": 0.2, "methadone": 0.15},
        ages=_PRISON_AGES, male=0.95, settings={"prison": 1.0},
    ),
)
# fmt: on


def death_substances(rnd: random.Random, country: str, pattern: DeathPattern) -> list[str]:
    """Substances named on a death: toxicology names, the primary first."""
    names = [pick(rnd, pattern.primary)]
    names += [name for name, p in pattern.also.items() if rnd.random() < p]
    out: list[str] = []
    for name in names:
        if name == "street_benzodiazepine":
            name = _street_benzodiazepine(rnd, country)
        elif name == "synthetic_cannabinoid":
            name = synthetic_cannabinoid(rnd)
        if name not in out:
            out.append(name)
    return out


def death(
    rnd: random.Random, world: World, pattern: DeathPattern, area: str, day: dt.date
) -> Draft:
    """One background death notification."""
    country = world.places.geography.areas[area].country
    substances = death_substances(rnd, country, pattern)
    status = "confirmed" if rnd.random() < 0.35 else "suspected"
    if status == "suspected":
        substances = substances[:2]
    setting = pick(rnd, pattern.settings)
    released = None
    if setting != "prison" and rnd.random() < pattern.released_share:
        released = round(rnd.triangular(1, 90, 7))
    age, sex = age_and_sex(rnd, pattern.ages, pattern.male)
    return death_draft(
        rnd,
        world,
        area=area,
        day=day,
        age_band=age,
        sex=sex,
        setting=setting,
        substances=substances,
        cause_icd10=cause_codes(rnd, substances),
        status=status,
        released_from_prison_days=released,
    )


def death_background(world: World, stats: list[StreamStats]) -> list[Draft]:
    drafts: list[Draft] = []
    for pattern in DEATH_PATTERNS:
        stream = StreamStats(
            f"deaths_{pattern.name}", "death", pattern.annual, pattern.areas, pattern.season, "flat"
        )
        stats.append(stream)
        rnd = world.rand(f"death/{pattern.name}")
        drafts.extend(death(rnd, world, pattern, area, day) for area, day in _cells(world, stream))
    return drafts


# --- Festivals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Festival:
    area: str
    friday: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.friday + dt.timedelta(days=i) for i in range(3)]


FESTIVAL_SEASON = (dt.date(2001, 6, 1), dt.date(2001, 8, 31))  # month/day bounds of a Friday
FESTIVAL_RIDR = 5.0  # harm reports per festival weekend, at scale 1
FESTIVAL_SAMPLES = 25.0  # drug-checking results per festival weekend
FESTIVAL_PRICES = 6.0  # drug-checking price/purity records per festival weekend
FESTIVAL_DAY_WEIGHTS = (0.2, 0.5, 0.3)
FESTIVAL_HARMS: dict[str, float] = {
    "mdma": 0.35,
    "ketamine": 0.2,
    "cocaine_nightlife": 0.2,
    "psychedelics": 0.15,
    "cannabis": 0.1,
}
FESTIVAL_PRODUCTS: dict[str, float] = {
    "MDMA": 0.4,
    "ketamine": 0.2,
    "cocaine": 0.2,
    "2C-B": 0.06,
    "amphetamine": 0.05,
    "mephedrone": 0.05,
    "LSD": 0.04,
}
FESTIVAL_MARKET: dict[str, float] = {"MDMA": 0.5, "ketamine": 0.25, "cocaine": 0.25}
_FESTIVAL_CHECKING = SampleStream(
    "festival_drug_checking", "drug_checking", 0, "drug_checking", "flat", FESTIVAL_PRODUCTS, 0.95
)
_FESTIVAL_AMNESTY = SampleStream(
    "festival_amnesty", "festival_amnesty", 0, "drug_checking", "flat", FESTIVAL_PRODUCTS, 0.5
)


def festival_calendar(world: World, fixed: Festival | None = None) -> list[Festival]:
    """One summer weekend a year in each festival district (synthetic dates); `fixed` replaces
    its district's weekend in its year."""
    out: list[Festival] = []
    for area in FESTIVAL_AREAS:
        for year in range(world.start.year, world.end.year + 1):
            if fixed and fixed.area == area and fixed.friday.year == year:
                festival = fixed
            else:
                first = FESTIVAL_SEASON[0].replace(year=year)
                first += dt.timedelta(days=(4 - first.weekday()) % 7)
                weeks = (FESTIVAL_SEASON[1].replace(year=year) - first).days // 7
                friday = first + dt.timedelta(
                    weeks=world.rand(f"festival/{area}/{year}").randint(0, weeks)
                )
                festival = Festival(area, friday)
            if world.in_window(festival.days[0]) and world.in_window(festival.days[-1]):
                out.append(festival)
    return sorted(out, key=lambda f: (f.friday, f.area))


def festival_background(
    world: World, festivals: list[Festival], planted: Festival | None
) -> list[Draft]:
    """Harms, drug-checking results and prices at each festival weekend. At the planted one,
    MDMA is left to the threat."""
    presentations = {p.name: p for p in PRESENTATIONS}
    drafts: list[Draft] = []
    for festival in festivals:
        key = f"festival/{festival.area}/{festival.friday.isoformat()}"
        rng, rnd = world.rng(key), world.rand(key)
        skip_mdma = planted == festival
        harms = {k: v for k, v in FESTIVAL_HARMS.items() if not (skip_mdma and k == "mdma")}
        for _ in range(int(rng.poisson(FESTIVAL_RIDR * world.scale))):
            day = rnd.choices(festival.days, weights=FESTIVAL_DAY_WEIGHTS)[0]
            p = presentations[pick(rnd, harms)]
            drafts.append(presentation_case(rnd, world, p, festival.area, day, setting="festival"))
        products = {k: v for k, v in FESTIVAL_PRODUCTS.items() if not (skip_mdma and k == "MDMA")}
        for _ in range(int(rng.poisson(FESTIVAL_SAMPLES * world.scale))):
            day = rnd.choices(festival.days, weights=FESTIVAL_DAY_WEIGHTS)[0]
            stream = _FESTIVAL_CHECKING if rnd.random() < 0.4 else _FESTIVAL_AMNESTY
            drafts.append(
                sample(rnd, world, stream, festival.area, day, product=pick(rnd, products))
            )
        market = {k: v for k, v in FESTIVAL_MARKET.items() if not (skip_mdma and k == "MDMA")}
        for _ in range(int(rng.poisson(FESTIVAL_PRICES * world.scale))):
            day = rnd.choices(festival.days, weights=FESTIVAL_DAY_WEIGHTS)[0]
            drafts.append(
                purchase(
                    rnd,
                    world,
                    MARKET_BY_DRUG[pick(rnd, market)],
                    festival.area,
                    day,
                    source="drug_checking",
                )
            )
    return drafts
