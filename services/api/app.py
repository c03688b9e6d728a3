"""The HTTP API and web UI: one router map mounting every domain's views.

Every router under /v1 is mounted with `authorize`, which checks the caller against the one
permission table (services/api/auth/permissions.py); the app refuses to start if a /v1 route
is missing from that table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST

from services.api.alerts.views import router as alerts_router
from services.api.areas.views import router as areas_router
from services.api.auth.dependencies import CurrentPrincipal, authorize, install
from services.api.auth.permissions import ROUTES
from services.api.auth.views import router as signin_router
from services.api.limits import BodyLimit
from services.api.notifications.views import router as notifications_router
from services.api.pages import router as pages_router
from services.api.reports.views import router as reports_router
from services.api.submissions.views import router as submissions_router
from services.api.subscriptions.views import router as subscriptions_router
from services.api.trends.views import router as trends_router
from services.api.users.views import router as users_router
from services.ingest import IngestUnavailable
from services.ops.health import readiness
from services.ops.metrics import HttpMetrics, exposition, system_registry
from services.pipeline import EmbeddedSystem
from streams.transport import TransportError

reference_router = APIRouter(prefix="/v1", tags=["reference"])


@reference_router.get("/areas", summary="Local authority districts (ONS LAD 2025)")
def areas(request: Request, _who: CurrentPrincipal) -> dict[str, Any]:
    geography = request.app.state.system.geography
    return {"areas": [
        {"code": a.code, "name": a.name, "region_code": a.region_code, "region": a.region_name,
         "lat": a.lat, "lon": a.lon}
        for a in geography.areas.values()
    ]}


# The router map: every domain's views, each behind the permission check.
ROUTERS: tuple[APIRouter, ...] = (
    users_router, reference_router, areas_router, reports_router, submissions_router, alerts_router,
    trends_router, subscriptions_router, notifications_router,
)


class PermissionTableIncomplete(RuntimeError):
    """A route under /v1 has no row in services/api/auth/permissions.py."""


def _api_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers whole
            context = getattr(route, "include_context", None)
            yield from _api_routes(route.original_router.routes,
                                   prefix + getattr(context, "prefix", ""))


def v1_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route under /v1."""
    return sorted((method, path) for path, route in _api_routes(app.routes)
                  if path.startswith("/v1/") for method in route.methods)


def create_app(system: EmbeddedSystem, *, account: str | None = None,
               stage_metrics: Callable[[], Sequence[str]] | None = None) -> FastAPI:
    """The API over an opened system; `account` submits records while no account exists;
    `stage_metrics`: where pipeline processes of this one serve their stage timings."""
    app = FastAPI(
        title="NPS early-warning system",
        version="1",
        description="Reports of drug harms, forensic results, market and death notifications in; "
                    "evidenced alerts out. Versioned under /v1. Machines send "
                    "`Authorization: Bearer <token>`; people sign in at /signin (a session "
                    "cookie; changes then need the X-CSRF-Token header from GET /v1/me).",
    )
    app.state.system = system
    app.add_middleware(BodyLimit, upload_bytes=system.settings.max_upload_bytes)
    install(app, system, open_submitter=account or system.settings.default_submitter)
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(authorize)])
    app.include_router(signin_router)
    app.include_router(pages_router)
    missing = [key for key in v1_routes(app) if key not in ROUTES]
    if missing:
        raise PermissionTableIncomplete(f"routes without a permission rule: {missing}")

    @app.exception_handler(RequestValidationError)
    async def _named_fields(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(part) for part in err["loc"] if part not in ("body",)) or "(body)",
             "problem": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": "invalid request", "errors": errors})

    @app.exception_handler(IngestUnavailable)
    @app.exception_handler(TransportError)
    async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The log, the broker or the store cannot take records now: refuse (nothing accepted,
        # nothing lost) rather than answer 500; the client sends the same records again later.
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content={"detail": f"not accepted: {exc}"})

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"],
             summary="Readiness: store, transport and alert index answer (503 names what does not)")
    def readyz() -> JSONResponse:
        checks = readiness(system)
        ready = all(check.ok for check in checks)
        return JSONResponse(status_code=200 if ready else 503, content={
            "status": "ready" if ready else "not ready",
            "not_ready": [check.name for check in checks if not check.ok],
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks}})

    metrics_registry = system_registry(system)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             summary="Prometheus metrics (text exposition format)")
    def metrics() -> Response:
        return Response(exposition(metrics_registry, stage_metrics),
                        media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(HttpMetrics)

    return app
