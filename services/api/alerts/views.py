"""HTTP for alerts: search with facets, detail with evidence, and review by the clinical network.

What each caller sees is narrowed by services/api/alerts/access.py (which alerts, how much of
each); who may call what is in services/api/auth/permissions.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from services.api.alerts import access, review, series, service, structure
from services.api.alerts.models import AssignmentChange, CommentCreate, SeverityChange, StatusChange
from services.api.auth import audit
from services.api.auth.dependencies import CurrentPrincipal
from services.api.auth.permissions import CLINICAL
from services.api.index import AlertQuery
from services.store import AlertRow, ConcurrentUpdateError

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get("/alerts", summary="Search alerts, with facet counts by class, area, status, ...")
def search_alerts(
    request: Request,
    who: CurrentPrincipal,
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
    statuses, areas = access.visibility(who)
    page = service.search_alerts(request.app.state.system.index, AlertQuery(
        q=q, area=area.upper() if area else None, klass=klass, substance=substance,
        status=status, severity=severity, source=source, date_from=date_from, date_to=date_to,
        limit=limit, offset=offset, visible_statuses=statuses, visible_areas=areas,
    ))
    hits = [hit for hit in (access.for_caller(who, hit, detail=False) for hit in page.hits) if hit]
    return {"total": page.total, "alerts": hits, "facets": page.facets}


@router.get("/alerts/{alert_id}", summary="One alert with its evidence and audit trail")
def get_alert(request: Request, alert_id: str, who: CurrentPrincipal) -> dict[str, Any]:
    system = request.app.state.system
    alert = service.get_alert(system.store, system.geography, alert_id)
    shown = access.for_caller(who, alert, detail=True) if alert is not None else None
    if shown is None:  # not there, or not for this caller: the same answer either way
        raise HTTPException(404, f"no alert {alert_id!r}")
    if who.is_open or who.role == CLINICAL:  # what the review buttons may offer
        shown["next_statuses"] = sorted(review.TRANSITIONS.get(shown["status"], ()))
    if shown["view"] == "full":
        audit.record_read(request, who, audit.ALERT_EVIDENCE, resource=alert_id,
                          items=len(shown.get("reports", [])))
    return shown


def _visible_row(request: Request, alert_id: str, who: CurrentPrincipal,
                 *, full: bool) -> AlertRow:
    """The alert's row if the caller may see it (in full, when `full`); 404 otherwise."""
    with request.app.state.system.store.session() as session:
        row = session.get(AlertRow, alert_id)
        if row is not None:
            session.expunge(row)
    view = access.view_of(who, row.status, list(row.areas)) if row is not None else None
    if view is None or (full and view != "full"):
        raise HTTPException(404, f"no alert {alert_id!r}")
    return row


@router.get("/alerts/{alert_id}/series",
            summary="The counts behind an alert by week (or day), with expected and threshold")
def get_alert_series(request: Request, alert_id: str, who: CurrentPrincipal) -> dict[str, Any]:
    _visible_row(request, alert_id, who, full=True)
    system = request.app.state.system
    found = series.alert_series(system.store, system.geography, alert_id)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    audit.record_read(request, who, audit.ALERT_SERIES, resource=alert_id,
                      items=len(found["series"]))
    return found


@router.get("/alerts/{alert_id}/structure.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}},
            summary="The alert's substance drawn by RDKit (404: a class alert, or none known)")
def get_alert_structure(request: Request, alert_id: str, who: CurrentPrincipal) -> Response:
    row = _visible_row(request, alert_id, who, full=False)
    try:
        svg = structure.structure_svg(request.app.state.system.store, row.substance_key,
                                      row.substance_name)
    except structure.NoStructure as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/signals", summary="Detector hits, with what the alert builder did and why")
def list_signals(
    request: Request,
    who: CurrentPrincipal,
    detector: str | None = None,
    disposition: str | None = None,
    area: str | None = None,
    substance_key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    found = service.list_signals(request.app.state.system.store, detector=detector,
                                 disposition=disposition, area=area, substance_key=substance_key,
                                 limit=limit, offset=offset)
    if found["signals"]:  # an empty answer shows no case
        audit.record_read(request, who, audit.SIGNALS, resource=str(request.url.query) or None,
                          items=len(found["signals"]))
    return found


@router.get("/review/queue", tags=["review"],
            summary="Alerts waiting for review (new, under review), most severe first")
def review_queue(request: Request, who: CurrentPrincipal,
                 assignee: Annotated[str | None, Query(max_length=64,
                                                       description="a username, or `me`")] = None,
                 unassigned: bool = False,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    name = who.username if assignee == "me" else assignee
    items = review.review_queue(request.app.state.system, assignee=name, unassigned=unassigned,
                                limit=limit)
    return {"total": len(items), "alerts": items}


def _reviewed(call: Any) -> dict[str, Any]:
    try:
        return call()
    except review.AlertNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except review.ReviewRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    except review.ReviewInvalid as exc:
        raise HTTPException(422, str(exc)) from exc
    except ConcurrentUpdateError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/alerts/{alert_id}/status", tags=["review"],
             summary="Move an alert: new → under_review → confirmed | dismissed; "
                     "confirmed → published → closed")
def change_status(request: Request, alert_id: str, body: StatusChange,
                  who: CurrentPrincipal) -> dict[str, Any]:
    return _reviewed(lambda: review.change_status(request.app.state.system, alert_id, body.to,
                                                  body.why, who.actor))


@router.post("/alerts/{alert_id}/severity", tags=["review"], summary="Change an alert's severity")
def change_severity(request: Request, alert_id: str, body: SeverityChange,
                    who: CurrentPrincipal) -> dict[str, Any]:
    return _reviewed(lambda: review.change_severity(request.app.state.system, alert_id,
                                                    body.severity, body.why, who.actor))


@router.post("/alerts/{alert_id}/assignment", tags=["review"],
             summary="Give an alert to a member of the clinical network (or to nobody)")
def assign(request: Request, alert_id: str, body: AssignmentChange,
           who: CurrentPrincipal) -> dict[str, Any]:
    return _reviewed(lambda: review.assign(request.app.state.system, alert_id, body.assignee,
                                           body.why, who.actor))


@router.post("/alerts/{alert_id}/comments", tags=["review"], status_code=201,
             summary="Comment on an alert (comments cannot be edited or deleted)")
def comment(request: Request, alert_id: str, body: CommentCreate,
            who: CurrentPrincipal) -> dict[str, Any]:
    return _reviewed(lambda: review.add_comment(request.app.state.system, alert_id, body.body,
                                                who.actor))
