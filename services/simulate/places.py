"""The areas the simulator draws on: who lives where, how urban it is, and where prisons are.

Everything comes from `services.geography` (ONS districts, adjacency, MoJ prisons) except the
population of Scotland and Northern Ireland, which `lad.csv` leaves empty: there it is
estimated from the district's number of postcodes, scaled by England's people per postcode
(Census 2011 residents / postcodes). Land area, for population density, is measured on the
packaged district polygons. The handful of places named below (festival hosts, drug-checking
sites, ports and airports) are choices of this simulation, not reference data.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass

import numpy as np

from services.geography import Geography, load_geography
from services.geography.areas import DATA_DIR

# Districts that host large summer music festivals (illustrative choice; the dates are synthetic).
FESTIVAL_AREAS: tuple[str, ...] = (
    "E06000066",  # Somerset
    "E06000038",  # Reading
    "E08000035",  # Leeds
    "E07000134",  # North West Leicestershire
    "E06000006",  # Halton
    "E07000094",  # Winchester
    "E08000003",  # Manchester
    "E06000046",  # Isle of Wight
    "E07000244",  # East Suffolk
    "W06000023",  # Powys
    "S12000049",  # Glasgow City
)
# Cities with a community drug-checking service (illustrative).
DRUG_CHECKING_SITES: tuple[str, ...] = (
    "E06000023",  # Bristol
    "W06000015",  # Cardiff
    "E08000003",  # Manchester
    "E08000035",  # Leeds
    "S12000049",  # Glasgow City
    "E06000043",  # Brighton and Hove
)
# Districts with a major port or airport, where border seizures are made (illustrative).
BORDER_AREAS: tuple[str, ...] = (
    "E09000017",  # Hillingdon (Heathrow)
    "E07000226",  # Crawley (Gatwick)
    "E07000108",  # Dover
    "E06000034",  # Thurrock (Tilbury, London Gateway)
    "E07000244",  # East Suffolk (Felixstowe)
    "E06000045",  # Southampton
    "E08000012",  # Liverpool
    "E08000003",  # Manchester (airport)
    "W06000001",  # Isle of Anglesey (Holyhead)
    "N09000003",  # Belfast
)

# Population density thresholds (residents per km2) for the urbanity classes.
CITY_DENSITY = 2500.0
LARGE_CITY_DENSITY = 1000.0
LARGE_CITY_POPULATION = 150_000
URBAN_DENSITY = 400.0


@dataclass(frozen=True)
class Places:
    """Per-district arrays, all indexed like `codes` (sorted GSS codes)."""

    geography: Geography
    codes: tuple[str, ...]
    index: dict[str, int]
    population: np.ndarray
    population_is_proxy: np.ndarray
    land_km2: np.ndarray
    urbanity: tuple[str, ...]
    prisons: np.ndarray
    people_per_postcode: float

    def mask(self, codes: tuple[str, ...] | list[str]) -> np.ndarray:
        """1.0 for the given districts, 0.0 elsewhere."""
        out = np.zeros(len(self.codes))
        out[[self.index[code] for code in codes]] = 1.0
        return out

    def factor(self, by_urbanity: dict[str, float]) -> np.ndarray:
        return np.array([by_urbanity[kind] for kind in self.urbanity])

    def country_factor(self, by_country: dict[str, float]) -> np.ndarray:
        areas = self.geography.areas
        return np.array([by_country.get(areas[code].country, 1.0) for code in self.codes])

    def neighbours(self, code: str) -> list[str]:
        """Neighbouring districts in a stable (sorted) order."""
        return sorted(self.geography.neighbours.get(code, frozenset()))

    def name(self, code: str) -> str:
        return self.geography.areas[code].name

    def region(self, code: str) -> str:
        return self.geography.areas[code].region_code


@functools.lru_cache(maxsize=1)
def load_places() -> Places:
    """The districts with population (or its proxy), land area, urbanity and prison counts."""
    geography = load_geography()
    codes = tuple(sorted(geography.areas))
    index = {code: i for i, code in enumerate(codes)}
    postcodes = _postcodes()
    england = [c for c in codes if geography.areas[c].country == "England"]
    people_per_postcode = sum(geography.areas[c].population or 0 for c in england) / sum(
        postcodes[c] for c in england
    )
    census = [geography.areas[c].population for c in codes]
    population = np.array(
        [
            p if p is not None else postcodes[c] * people_per_postcode
            for c, p in zip(codes, census, strict=True)
        ],
        dtype=float,
    )
    land = _land_km2()
    land_km2 = np.array([land[c] for c in codes])
    density = population / land_km2
    urbanity = tuple(
        _urbanity(float(pop), float(dens)) for pop, dens in zip(population, density, strict=True)
    )
    prisons = np.zeros(len(codes), dtype=int)
    for prison in geography.prisons:
        prisons[index[prison.area_code]] += 1
    return Places(
        geography=geography,
        codes=codes,
        index=index,
        population=population,
        population_is_proxy=np.array([p is None for p in census]),
        land_km2=land_km2,
        urbanity=urbanity,
        prisons=prisons,
        people_per_postcode=people_per_postcode,
    )


def _urbanity(population: float, density: float) -> str:
    if density >= CITY_DENSITY or (
        density >= LARGE_CITY_DENSITY and population >= LARGE_CITY_POPULATION
    ):
        return "city"
    return "urban" if density >= URBAN_DENSITY else "rural"


def _postcodes() -> dict[str, int]:
    with open(DATA_DIR / "lad.csv", newline="", encoding="utf-8") as handle:
        return {row["lad_code"]: int(row["n_postcodes"]) for row in csv.DictReader(handle)}


def _land_km2() -> dict[str, float]:
    """Area of each district polygon (coastline-clipped), on a local equirectangular projection."""
    with open(DATA_DIR / "lad_simplified.geojson", encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    areas: dict[str, float] = {}
    for feature in features:
        geometry = feature["geometry"]
        polygons = (
            geometry["coordinates"]
            if geometry["type"] == "MultiPolygon"
            else [geometry["coordinates"]]
        )
        areas[feature["properties"]["lad_code"]] = sum(
            _ring_km2(polygon[0]) - sum(_ring_km2(hole) for hole in polygon[1:])
            for polygon in polygons
        )
    return areas


def _ring_km2(ring: list[list[float]]) -> float:
    points = np.asarray(ring, dtype=float)
    x = points[:, 0] * 111.32 * math.cos(math.radians(float(points[:, 1].mean())))
    y = points[:, 1] * 110.57
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


# --- Laboratories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lab:
    """A forensic provider: the regions it serves, its report-number prefix and its methods."""

    lab_id: str
    prefix: str
    regions: tuple[str, ...]
    method: str


# Three regional FEWS-style laboratories and one national drug-checking service (illustrative).
FEWS_LABS: tuple[Lab, ...] = (
    Lab(
        "fews-north",
        "FN",
        ("E12000001", "E12000002", "E12000003", "S92000003", "N92000002"),
        "GC-MS; LC-QTOF-MS",
    ),
    Lab("fews-midlands-east", "FM", ("E12000004", "E12000005", "E12000006"), "GC-MS; LC-MS/MS"),
    Lab(
        "fews-south",
        "FS",
        ("E12000007", "E12000008", "E12000009", "W92000004"),
        "GC-MS; LC-QTOF-MS",
    ),
)
DRUG_CHECKING_LAB = Lab("drug-checking-service", "DC", (), "FTIR; GC-MS")
LABS: tuple[Lab, ...] = (*FEWS_LABS, DRUG_CHECKING_LAB)
NOVEL_STRUCTURE_METHOD = "LC-QTOF-MS; NMR"
TOXICOLOGY_METHOD = "LC-MS/MS"
# Settings analysed by the drug-checking service rather than the regional laboratory.
DRUG_CHECKING_SETTINGS: frozenset[str] = frozenset({"drug_checking", "festival_amnesty"})


def lab_for(places: Places, area: str, setting: str) -> Lab:
    """The laboratory that analyses a sample from `area` taken in `setting`."""
    if setting in DRUG_CHECKING_SETTINGS:
        return DRUG_CHECKING_LAB
    region = places.region(area)
    return next(lab for lab in FEWS_LABS if region in lab.regions)
