"""HTTP for trends: the table as JSON, or as CSV to download."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from services.api.auth.dependencies import CurrentPrincipal
from services.api.auth.keys import signing_key
from services.api.trends import service
from services.api.trends.models import Dimension
from services.api.trends.perturbation import Perturber

router = APIRouter(prefix="/v1", tags=["trends"])


def _table(request: Request, rows: Dimension, cols: Dimension | None, date_from: dt.date | None,
           date_to: dt.date | None, area: str | None, region: str | None, source: str | None,
           klass: str | None, substance: str | None, setting: str | None) -> dict[str, Any]:
    system = request.app.state.system
    perturber = getattr(request.app.state, "trends_perturber", None)
    if perturber is None:  # the signing key: every API replica perturbs alike
        perturber = request.app.state.trends_perturber = Perturber(signing_key(system.settings))
    try:
        return service.trends(system.store, system.geography, rows=rows, cols=cols,
                              perturber=perturber,
                              filters=service.Filters(
                                  date_from=date_from, date_to=date_to,
                                  area=area.upper() if area else None,
                                  region=region.upper() if region else None, source=source,
                                  klass=klass, substance=substance, setting=setting))
    except service.TrendsInvalid as exc:
        raise HTTPException(422, str(exc)) from exc


Rows = Annotated[Dimension, Query(description="the table's rows")]
Cols = Annotated[Dimension | None, Query(description="the table's columns (none: one column)")]
From = Annotated[dt.date | None, Query(alias="from")]
To = Annotated[dt.date | None, Query(alias="to")]
Text = Annotated[str | None, Query(max_length=200)]
Klass = Annotated[str | None, Query(alias="class", max_length=40)]


@router.get("/trends", summary="Counts of reports by area, region, substance, class, source, "
                               "setting, custody (prison or not) or week; perturbed, under 5 shown as <5")
def trends(request: Request, _who: CurrentPrincipal, rows: Rows = "week", cols: Cols = None,
           date_from: From = None, date_to: To = None, area: Text = None, region: Text = None,
           source: Text = None, klass: Klass = None, substance: Text = None,
           setting: Text = None) -> dict[str, Any]:
    return _table(request, rows, cols, date_from, date_to, area, region, source, klass,
                  substance, setting)


@router.get("/trends.csv", summary="The same table as CSV", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def trends_csv(request: Request, _who: CurrentPrincipal, rows: Rows = "week", cols: Cols = None,
               date_from: From = None, date_to: To = None, area: Text = None, region: Text = None,
               source: Text = None, klass: Klass = None, substance: Text = None,
               setting: Text = None) -> Response:
    table = _table(request, rows, cols, date_from, date_to, area, region, source, klass,
                   substance, setting)
    name = f"ews-trends-{rows}" + (f"-by-{cols}" if cols else "") + ".csv"
    return Response(service.as_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
