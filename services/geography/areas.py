"""Loader for the packaged copy of shared/data/geography (ONS LADs, adjacency, MoJ prisons).

The files are copied unchanged from the project's shared reference data, with their SOURCE.md
(attribution and licences); a test checks the copy still equals the shared original.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

DATA_DIR = Path(str(resources.files("services.geography") / "data"))

# The island fallback links (e.g. Isle of Wight to New Forest) are not true shared boundaries but
# are the only way an island's cluster can reach the mainland; the scan keeps them.
NEIGHBOUR_METHODS_EXCLUDED: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Area:
    code: str
    name: str
    region_code: str
    region_name: str
    country: str
    lat: float
    lon: float
    population: int | None


@dataclass(frozen=True, slots=True)
class Prison:
    prison_id: str
    name: str
    area_code: str


@dataclass(frozen=True)
class Geography:
    areas: dict[str, Area]
    neighbours: dict[str, frozenset[str]]
    prisons: tuple[Prison, ...]
    regions: dict[str, str] = field(default_factory=dict)
    _reach_cache: dict[tuple[str, int], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False)

    def area(self, code: str) -> Area:
        return self.areas[code]

    def region_of(self, code: str) -> str:
        area = self.areas.get(code)
        return area.region_code if area else ""

    def is_neighbour_or_same(self, a: str, b: str) -> bool:
        return a == b or b in self.neighbours.get(a, frozenset())

    def within(self, a: str, b: str, hops: int) -> bool:
        """Whether b is at most `hops` boundary crossings from a."""
        return b in self._reach(a, hops)

    def _reach(self, code: str, hops: int) -> frozenset[str]:
        cached = self._reach_cache.get((code, hops))
        if cached is None:
            reached, frontier = {code}, {code}
            for _ in range(hops):
                frontier = {n for area in frontier for n in self.neighbours.get(area, ())} - reached
                reached |= frontier
            cached = self._reach_cache[(code, hops)] = frozenset(reached)
        return cached

    def prisons_in(self, code: str) -> list[Prison]:
        return [prison for prison in self.prisons if prison.area_code == code]


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@functools.lru_cache(maxsize=1)
def load_geography() -> Geography:
    """The areas, adjacency and prisons; read once per process."""
    areas = {
        row["lad_code"]: Area(
            code=row["lad_code"],
            name=row["lad_name"],
            region_code=row["region_code"],
            region_name=row["region_name"],
            country=row["country"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            population=int(row["population"]) if row["population"] else None,
        )
        for row in _rows("lad.csv")
    }
    neighbours: dict[str, set[str]] = defaultdict(set)
    for row in _rows("adjacency.csv"):
        if row["method"] in NEIGHBOUR_METHODS_EXCLUDED:
            continue
        neighbours[row["lad_code_a"]].add(row["lad_code_b"])
        neighbours[row["lad_code_b"]].add(row["lad_code_a"])
    prisons = tuple(
        Prison(prison_id=row["prison_id"], name=row["name"], area_code=row["lad_code"])
        for row in _rows("prisons.csv")
        if row["active"] == "1"
    )
    regions = {area.region_code: area.region_name for area in areas.values()}
    return Geography(
        areas=areas,
        neighbours={code: frozenset(neighbours.get(code, ())) for code in areas},
        prisons=prisons,
        regions=regions,
    )
