"""The HTTP API and web UI: one router map mounting every domain's views."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from services.api.alerts.views import router as alerts_router
from services.api.reports.views import router as reports_router
from services.pipeline import EmbeddedSystem

WEB_DIR = resources.files("services.api") / "web"


def create_app(system: EmbeddedSystem, *, account: str | None = None) -> FastAPI:
    """The API over an opened system; `account` submits records while accounts are not configured."""
    app = FastAPI(
        title="NPS early-warning system",
        version="1",
        description="Reports of drug harms, forensic results, market and death notifications in; "
                    "evidenced alerts out. Versioned under /v1.",
    )
    app.state.system = system
    app.state.account = account or system.settings.default_submitter
    app.include_router(reports_router)
    app.include_router(alerts_router)

    @app.exception_handler(RequestValidationError)
    async def _named_fields(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(part) for part in err["loc"] if part not in ("body",)) or "(body)",
             "problem": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": "invalid request", "errors": errors})

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return (WEB_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/v1/areas", tags=["reference"], summary="Local authority districts (ONS LAD 2025)")
    def areas() -> dict[str, Any]:
        return {"areas": [
            {"code": a.code, "name": a.name, "region_code": a.region_code, "region": a.region_name,
             "lat": a.lat, "lon": a.lon}
            for a in system.geography.areas.values()
        ]}

    return app
