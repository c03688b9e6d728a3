"""HTTP for alerts: GET /v1/alerts (search with facets) and GET /v1/alerts/{id} (evidence)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from services.api.alerts import service
from services.api.index import AlertQuery

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get("/alerts", summary="Search alerts, with facet counts by class, area, status, ...")
def search_alerts(
    request: Request,
    q: Annotated[str | None, Query(max_length=500, description="Full-text query")] = None,
    area: Annotated[str | None, Query(max_length=9, description="ONS LAD code")] = None,
    klass: Annotated[str | None, Query(alias="class", max_length=40)] = None,
    substance: Annotated[str | None, Query(max_length=200, description="Preferred name")] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    severity: Annotated[str | None, Query(max_length=20)] = None,
    source: Annotated[str | None, Query(max_length=20)] = None,
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    page = service.search_alerts(request.app.state.system.index, AlertQuery(
        q=q, area=area.upper() if area else None, klass=klass, substance=substance,
        status=status, severity=severity, source=source, date_from=date_from, date_to=date_to,
        limit=limit, offset=offset,
    ))
    return {"total": page.total, "alerts": page.hits, "facets": page.facets}


@router.get("/alerts/{alert_id}", summary="One alert with its evidence and audit trail")
def get_alert(request: Request, alert_id: str) -> dict[str, Any]:
    system = request.app.state.system
    alert = service.get_alert(system.store, system.geography, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return alert


@router.get("/signals", summary="Detector hits, with what the alert builder did and why")
def list_signals(
    request: Request,
    detector: str | None = None,
    disposition: str | None = None,
    area: str | None = None,
    substance_key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    return service.list_signals(request.app.state.system.store, detector=detector,
                                disposition=disposition, area=area, substance_key=substance_key,
                                limit=limit, offset=offset)
