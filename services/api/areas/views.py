"""HTTP for area boundaries (the dashboard's maps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.api.areas.service import boundaries
from services.api.auth.dependencies import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["reference"])


@router.get("/areas/geometry", summary="Boundaries (GeoJSON) of some areas and their neighbours")
def geometry(request: Request, _who: CurrentPrincipal,
             codes: Annotated[str, Query(max_length=1000,
                                         description="comma-separated ONS LAD codes")],
             neighbours: bool = True) -> dict[str, Any]:
    return boundaries(request.app.state.system.geography, codes.split(","), neighbours=neighbours)
