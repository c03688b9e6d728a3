"""District boundaries (ONS LAD 2025, simplified) for a few areas at a time.

The packaged GeoJSON (services/geography/data/lad_simplified.geojson, 2.7 MB) is read once per
process; a map asks for the areas it shows and gets only their features, with the neighbours
of each for context, so that a page never downloads the whole country.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from services.geography import Geography
from services.geography.areas import DATA_DIR

# services/geography/data/SOURCE.md: "Attribution to carry wherever these data are shown".
ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0. "
    "Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
    "Contains OS data © Crown copyright and database right 2025. "
    "Contains Royal Mail data © Royal Mail copyright and database right 2025. "
    "Contains National Statistics data © Crown copyright and database right 2025. "
    "Boundaries: martinjc/UK-GeoJSON (CC BY 4.0), dissolved into LAD 2025."
)
MAX_CODES = 60


@functools.cache
def _features() -> dict[str, dict[str, Any]]:
    with (DATA_DIR / "lad_simplified.geojson").open(encoding="utf-8") as handle:
        collection = json.load(handle)
    return {feature["properties"]["lad_code"]: feature for feature in collection["features"]}


def boundaries(geography: Geography, codes: list[str], *, neighbours: bool = True) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of `codes` (property `affected`: true) and their neighbours.

    Args:
        codes: ONS LAD codes; unknown ones are listed under `missing`, not an error.
        neighbours: add each area's neighbours (property `affected`: false) for context.
    """
    wanted = [code.strip().upper() for code in codes if code.strip()][:MAX_CODES]
    affected = dict.fromkeys(wanted)
    context: dict[str, None] = {}
    if neighbours:
        for code in affected:
            for other in sorted(geography.neighbours.get(code, ())):
                if other not in affected:
                    context[other] = None
    features, missing = [], []
    for code, is_affected in [*((c, True) for c in affected), *((c, False) for c in context)]:
        feature = _features().get(code)
        if feature is None:
            if is_affected:
                missing.append(code)
            continue
        area = geography.areas.get(code)
        features.append({"type": "Feature", "geometry": feature["geometry"], "properties": {
            "code": code, "name": area.name if area else feature["properties"]["lad_name"],
            "affected": is_affected}})
    return {"type": "FeatureCollection", "features": features, "missing": missing,
            "attribution": ATTRIBUTION}
