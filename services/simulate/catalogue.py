"""What the simulated world is made of: substances, what labs find in what is sold, street prices
and purities, death codes, and the words of a clinical narrative.

Every substance name here is one the chemistry package resolves (street names included); the
planted threats add protonitazene, xylazine, bromazolam and one structure that no library holds.
Prices and purities are typical UK street figures (rounded, illustrative), not measurements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Structures of the planted substances (ground truth carries them).
PROTONITAZENE_SMILES = "CCCOc1ccc(Cc2nc3cc([N+](=O)[O-])ccc3n2CCN(CC)CC)cc1"
XYLAZINE_SMILES = "Cc1cccc(C)c1NC1=NCCCS1"
BROMAZOLAM_SMILES = "Cc1nnc2n1-c1ccc(Br)cc1C(c1ccccc1)=NC2"
MDMA_SMILES = "CNC(C)Cc1ccc2c(c1)OCO2"
# A hypothetical hex-5-enyl analogue of MDMB-4en-PINACA: in no reference library.
NOVEL_CANNABINOID_SMILES = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"

CUTS: tuple[str, ...] = (
    "caffeine",
    "paracetamol",
    "lidocaine",
    "benzocaine",
    "levamisole",
    "phenacetin",
)
SYNTHETIC_CANNABINOIDS: tuple[str, ...] = ("MDMB-4en-PINACA", "ADB-BUTINACA", "5F-MDMB-PICA")
SYNTHETIC_CANNABINOID_SHARES: tuple[float, ...] = (0.5, 0.35, 0.15)
BENZODIAZEPINES: frozenset[str] = frozenset({"diazepam", "alprazolam", "etizolam", "clonazepam"})
# Names a toxicology screen would report for a street name (a confirmed mention).
TOXICOLOGY_NAME: dict[str, str] = {
    "crack": "cocaine",
    "ecstasy": "MDMA",
    "speed": "amphetamine",
    "cannabis": "THC",
}
OPIOIDS: frozenset[str] = frozenset(
    {
        "heroin",
        "morphine",
        "methadone",
        "buprenorphine",
        "oxycodone",
        "tramadol",
        "codeine",
        "fentanyl",
        "protonitazene",
    }
)

AGE_BANDS: tuple[str, ...] = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe", "life_threatening", "fatal")


def pick(rnd: random.Random, options: dict[str, float]) -> str:
    """One key of `options`, drawn with the values as weights."""
    return rnd.choices(list(options), weights=list(options.values()))[0]


def truncated_normal(rnd: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    for _ in range(100):
        value = rnd.gauss(mean, sd)
        if low <= value <= high:
            return value
    return min(max(mean, low), high)


def synthetic_cannabinoid(rnd: random.Random) -> str:
    return rnd.choices(SYNTHETIC_CANNABINOIDS, weights=SYNTHETIC_CANNABINOID_SHARES)[0]


# --- Forensic samples: what was sold, and what the lab finds in it --------------------------------


@dataclass(frozen=True)
class Purity:
    mean: float
    sd: float
    low: float
    high: float

    def draw(self, rnd: random.Random) -> float:
        return round(truncated_normal(rnd, self.mean, self.sd, self.low, self.high), 1)


@dataclass(frozen=True)
class Recipe:
    """A street product as a lab sees it: its active, its usual cuts, its form."""

    active: str
    sold_as: tuple[str, ...]
    forms: dict[str, float]
    purity: Purity | None
    cuts: dict[str, float]  # cut -> probability of being present

    def components(self, rnd: random.Random, purity: float | None = None) -> list[dict]:
        main: dict = {"name": self.active}
        value = purity if purity is not None else (self.purity.draw(rnd) if self.purity else None)
        if value is not None:
            main["purity_percent"] = value
        main["role"] = "active"
        return [main, *cut_components(rnd, self.cuts)]


def cut_components(rnd: random.Random, cuts: dict[str, float]) -> list[dict]:
    return [{"name": cut, "role": "cutting_agent"} for cut, p in cuts.items() if rnd.random() < p]


_TABLET = {"tablet": 1.0}
RECIPES: dict[str, Recipe] = {
    "heroin": Recipe(
        "heroin",
        ("heroin",),
        {"powder": 1.0},
        Purity(45, 11, 10, 80),
        {"caffeine": 0.7, "paracetamol": 0.6},
    ),
    "cocaine": Recipe(
        "cocaine",
        ("cocaine",),
        {"powder": 1.0},
        Purity(62, 13, 15, 95),
        {
            "levamisole": 0.3,
            "benzocaine": 0.2,
            "lidocaine": 0.2,
            "phenacetin": 0.1,
            "caffeine": 0.1,
        },
    ),
    "crack": Recipe(
        "cocaine",
        ("crack",),
        {"other": 0.8, "powder": 0.2},
        Purity(70, 10, 30, 95),
        {"levamisole": 0.15, "phenacetin": 0.05},
    ),
    "cannabis": Recipe(
        "THC", ("cannabis",), {"herbal": 0.9, "e_liquid": 0.1}, Purity(15, 4, 3, 30), {}
    ),
    "MDMA": Recipe(
        "MDMA",
        ("MDMA", "ecstasy"),
        {"powder": 0.5, "tablet": 0.4, "capsule": 0.1},
        Purity(55, 5, 45, 65),
        {"caffeine": 0.08},
    ),
    "ketamine": Recipe(
        "ketamine", ("ketamine",), {"powder": 1.0}, Purity(72, 10, 35, 95), {"caffeine": 0.03}
    ),
    "amphetamine": Recipe(
        "amphetamine",
        ("amphetamine", "speed"),
        {"powder": 1.0},
        Purity(12, 5, 2, 40),
        {"caffeine": 0.6},
    ),
    "methamphetamine": Recipe(
        "methamphetamine", ("methamphetamine",), {"powder": 1.0}, Purity(75, 12, 30, 98), {}
    ),
    "diazepam": Recipe("diazepam", ("diazepam",), _TABLET, Purity(5.5, 1.5, 1, 10), {}),
    "alprazolam": Recipe("alprazolam", ("alprazolam",), _TABLET, Purity(1.0, 0.3, 0.2, 2.5), {}),
    "etizolam": Recipe("etizolam", ("etizolam",), _TABLET, Purity(1.2, 0.4, 0.2, 3), {}),
    "clonazepam": Recipe("clonazepam", ("clonazepam",), _TABLET, Purity(1.0, 0.3, 0.2, 2.5), {}),
    "zopiclone": Recipe("zopiclone", ("zopiclone",), _TABLET, Purity(4, 1, 1, 8), {}),
    "pregabalin": Recipe(
        "pregabalin", ("pregabalin",), {"capsule": 1.0}, Purity(50, 10, 20, 80), {}
    ),
    "buprenorphine": Recipe(
        "buprenorphine", ("buprenorphine",), {"paper": 0.6, "tablet": 0.4}, None, {}
    ),
    "methadone": Recipe(
        "methadone", ("methadone",), {"liquid": 1.0}, Purity(0.1, 0.02, 0.05, 0.2), {}
    ),
    "tramadol": Recipe("tramadol", ("tramadol",), _TABLET, Purity(25, 6, 5, 50), {}),
    "oxycodone": Recipe("oxycodone", ("oxycodone",), _TABLET, Purity(8, 3, 1, 20), {}),
    "mephedrone": Recipe(
        "mephedrone", ("mephedrone",), {"powder": 1.0}, Purity(70, 15, 20, 98), {"caffeine": 0.1}
    ),
    "alpha-PVP": Recipe("alpha-PVP", ("alpha-PVP",), {"powder": 1.0}, Purity(60, 15, 15, 98), {}),
    "2C-B": Recipe("2C-B", ("2C-B",), {"tablet": 0.5, "powder": 0.5}, Purity(10, 4, 2, 30), {}),
    "LSD": Recipe("LSD", ("LSD",), {"paper": 1.0}, None, {}),
    "psilocin": Recipe("psilocin", ("psilocin",), {"herbal": 0.8, "capsule": 0.2}, None, {}),
    "DMT": Recipe("DMT", ("DMT",), {"powder": 0.7, "e_liquid": 0.3}, Purity(80, 10, 40, 99), {}),
}


def spice_components(rnd: random.Random, form: str) -> list[dict]:
    component: dict = {"name": synthetic_cannabinoid(rnd), "role": "active"}
    if form == "herbal":
        component["purity_percent"] = round(truncated_normal(rnd, 2.5, 1.2, 0.3, 8), 1)
    return [component]


# --- Street market (price and purity) -------------------------------------------------------------


@dataclass(frozen=True)
class MarketDrug:
    drug: str
    annual: float
    price_per_unit: float  # GBP for one unit (1 g, or one tablet)
    quantities: dict[float, float]  # quantity -> weight
    purity: Purity
    unit: str = "g"
    tablet_share: float = 0.0  # share of purchases counted in tablets
    tablet_price: float = 0.0


MARKET_DRUGS: tuple[MarketDrug, ...] = (
    MarketDrug(
        "heroin",
        420,
        45,
        {0.1: 0.35, 0.2: 0.2, 0.5: 0.2, 1: 0.2, 3.5: 0.05},
        Purity(45, 10, 10, 80),
    ),
    MarketDrug(
        "cocaine", 700, 75, {0.5: 0.2, 1: 0.5, 2: 0.15, 3.5: 0.1, 28: 0.05}, Purity(62, 12, 15, 95)
    ),
    MarketDrug("crack", 280, 90, {0.1: 0.4, 0.2: 0.35, 0.5: 0.15, 1: 0.1}, Purity(70, 10, 30, 95)),
    MarketDrug(
        "MDMA",
        220,
        35,
        {0.5: 0.3, 1: 0.6, 3.5: 0.1},
        Purity(55, 5, 45, 65),
        tablet_share=0.35,
        tablet_price=8,
    ),
    MarketDrug(
        "ketamine", 200, 25, {0.5: 0.2, 1: 0.6, 3.5: 0.15, 28: 0.05}, Purity(72, 10, 35, 95)
    ),
    MarketDrug("amphetamine", 200, 10, {1: 0.6, 3.5: 0.25, 28: 0.15}, Purity(12, 5, 2, 40)),
    MarketDrug(
        "cannabis", 780, 10, {1: 0.2, 3.5: 0.35, 7: 0.2, 14: 0.1, 28: 0.15}, Purity(15, 4, 3, 30)
    ),
)
MARKET_BY_DRUG: dict[str, MarketDrug] = {spec.drug: spec for spec in MARKET_DRUGS}
# Bulk discount: price grows with quantity ** this.
BULK_EXPONENT = 0.85


def street_price(rnd: random.Random, unit_price: float, quantity: float) -> float:
    """A round street price for `quantity` units at about `unit_price` each."""
    price = unit_price * quantity**BULK_EXPONENT * rnd.lognormvariate(0.0, 0.15)
    if price >= 20:
        return float(5 * round(price / 5))
    return float(max(2, round(price)))


# --- Deaths: ICD-10 codes -------------------------------------------------------------------------

# T-codes (poisoning by) for the substances named on death notifications.
ICD10_T_CODE: dict[str, str] = {
    "heroin": "T40.1",
    "morphine": "T40.2",
    "codeine": "T40.2",
    "oxycodone": "T40.2",
    "buprenorphine": "T40.2",
    "methadone": "T40.3",
    "tramadol": "T40.4",
    "fentanyl": "T40.4",
    "protonitazene": "T40.4",
    "cocaine": "T40.5",
    "THC": "T40.7",
    "MDMB-4en-PINACA": "T40.7",
    "ADB-BUTINACA": "T40.7",
    "5F-MDMB-PICA": "T40.7",
    "ketamine": "T41.2",
    "diazepam": "T42.4",
    "alprazolam": "T42.4",
    "etizolam": "T42.4",
    "clonazepam": "T42.4",
    "bromazolam": "T42.4",
    "pregabalin": "T42.6",
    "gabapentin": "T42.6",
    "zopiclone": "T42.6",
    "amphetamine": "T43.6",
    "methamphetamine": "T43.6",
    "MDMA": "T43.6",
    "mephedrone": "T43.6",
    "xylazine": "T44.7",
}


def cause_codes(rnd: random.Random, substances: list[str]) -> list[str]:
    """Underlying cause (X/Y/F code) then one T-code per substance, without repeats."""
    opioid = any(name in OPIOIDS for name in substances)
    if opioid:
        underlying = pick(rnd, {"X42": 0.6, "F11.0": 0.2, "Y12": 0.1, "X62": 0.05, "X44": 0.05})
    elif any(name in ("cocaine", "THC") for name in substances):
        underlying = pick(rnd, {"X42": 0.8, "F14.0": 0.1, "Y12": 0.1})
    else:
        underlying = pick(rnd, {"X41": 0.5, "X44": 0.35, "Y11": 0.1, "X61": 0.05})
    codes = [underlying]
    for name in substances:
        code = ICD10_T_CODE.get(name)
        if code and code not in codes:
            codes.append(code)
    return codes


# --- Clinical narratives --------------------------------------------------------------------------

FEATURE_PHRASES: dict[str, tuple[str, ...]] = {
    "reduced_consciousness": (
        "reduced consciousness, GCS {gcs}",
        "found unresponsive",
        "drowsy and hard to rouse",
    ),
    "respiratory_depression": (
        "slow shallow breathing, RR {rr}",
        "respiratory depression",
        "SpO2 {spo2}% on air",
    ),
    "seizure": ("witnessed tonic-clonic seizure", "seizure activity"),
    "agitation": ("marked agitation", "agitated and combative"),
    "psychosis": ("paranoid and psychotic", "acute psychotic symptoms"),
    "tachycardia": ("HR {hr}", "tachycardic at {hr}"),
    "hyperthermia": ("temperature {temp} C", "hyperthermic, {temp} C"),
    "vomiting": ("repeated vomiting",),
    "cardiac_arrest": ("cardiac arrest, CPR started",),
    "hypertension": ("BP {sbp}/{dbp}",),
    "hypotension": ("hypotensive, BP {lsbp}/{ldbp}",),
    "bradycardia": ("bradycardic, HR {lhr}",),
    "hallucinations": ("visual hallucinations",),
    "confusion": ("confused and disorientated",),
    "chest_pain": ("central chest pain",),
    "hyponatraemia": ("sodium {na} mmol/L",),
    "serotonin_syndrome": ("clonus and hyperreflexia",),
    "miosis": ("pinpoint pupils",),
    "mydriasis": ("dilated pupils",),
    "skin_wound": ("necrotic wounds on forearms", "ulcerated wounds away from injection sites"),
    "rhabdomyolysis": ("raised CK",),
    "acute_kidney_injury": ("acute kidney injury",),
    "other": ("anxiety and palpitations",),
}
SETTING_OPENINGS: dict[str, str] = {
    "prison": "Found in cell after using {said}",
    "festival": "Festival attendee, reports taking {said}",
    "nightclub": "Brought in from a nightclub after taking {said}",
    "home": "Found at home after taking {said}",
    "public_place": "Found in a public place after using {said}",
    "hostel": "Hostel staff called after resident used {said}",
    "police_custody": "Detainee in police custody, reports taking {said}",
}
NALOXONE_PHRASES: dict[str, str] = {
    "full": "Naloxone given with full response.",
    "partial": "Naloxone given, only partial response despite repeated doses.",
    "none": "No response to naloxone.",
}
OUTCOME_PHRASES: dict[str, str] = {
    "discharged": "Discharged after observation.",
    "admitted": "Admitted.",
    "intensive_care": "Admitted to intensive care.",
    "died": "Died despite resuscitation.",
    "unknown": "",
}


def narrative(
    rnd: random.Random,
    *,
    setting: str,
    said: list[str],
    features: list[str],
    naloxone_response: str | None,
    outcome: str,
    extra: str = "",
) -> str:
    """A short de-identified clinical narrative from the structured fields."""
    opening = SETTING_OPENINGS.get(setting, "Reports using {said}").format(
        said=" and ".join(said) if said else "unknown substances"
    )
    values = {
        "gcs": rnd.randint(3, 12),
        "rr": rnd.randint(4, 9),
        "spo2": rnd.randint(72, 90),
        "hr": rnd.randint(115, 175),
        "temp": round(rnd.uniform(38.6, 41.8), 1),
        "sbp": rnd.randint(160, 210),
        "dbp": rnd.randint(95, 125),
        "lsbp": rnd.randint(70, 90),
        "ldbp": rnd.randint(35, 55),
        "lhr": rnd.randint(35, 50),
        "na": rnd.randint(118, 129),
    }
    findings = [rnd.choice(FEATURE_PHRASES[f]).format(**values) for f in features]
    found = ", ".join(findings)
    parts = [
        opening + ".",
        (found[:1].upper() + found[1:] + ".") if found else "",
        extra,
        NALOXONE_PHRASES.get(naloxone_response or "", ""),
        OUTCOME_PHRASES[outcome],
    ]
    return " ".join(part for part in parts if part)
