"""The packaged reference geography: complete, consistent, and still the shared original."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from services.geography import load_geography
from services.geography.areas import DATA_DIR

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "geography"


def test_areas_neighbours_and_prisons_load() -> None:
    geography = load_geography()
    assert len(geography.areas) == 361
    assert len(geography.prisons) == 125
    assert geography.areas["E08000025"].name == "Birmingham"
    assert all(geography.neighbours[code] for code in geography.areas), "every LAD has a neighbour"
    assert all(code in geography.neighbours[other]
               for code, others in geography.neighbours.items() for other in others)
    assert all(prison.area_code in geography.areas for prison in geography.prisons)


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ is not beside this checkout")
@pytest.mark.parametrize("name", ["lad.csv", "adjacency.csv", "prisons.csv", "lad_simplified.geojson", "SOURCE.md"])
def test_packaged_copy_equals_the_shared_original(name: str) -> None:
    assert filecmp.cmp(DATA_DIR / name, SHARED / name, shallow=False)


def test_reach_counts_boundary_crossings() -> None:
    geography = load_geography()
    hartlepool, stockton, middlesbrough = "E06000001", "E06000004", "E06000002"
    assert geography.within(hartlepool, stockton, 1)
    assert not geography.within(hartlepool, middlesbrough, 1)
    assert geography.within(hartlepool, middlesbrough, 2)
    assert geography.within(hartlepool, hartlepool, 0)
