"""The dashboard's pages: static HTML and vanilla JS shipped in services/api/web/ (no build step,
no CDN). Each page is open only to the roles whose API it calls (the rows of `PAGES`, taken from
the permission table), so that a page never shows a role what the API would refuse it; the data
themselves come from /v1, narrowed there as for any other caller.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from services.api.auth.dependencies import accounts_exist, identify
from services.api.auth.permissions import ALL, PAGES, ROLE_TITLES

router = APIRouter(include_in_schema=False)
WEB_DIR = resources.files("services.api") / "web"
ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml"}

_REFUSED = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not allowed</title>
<link rel="stylesheet" href="/web/style.css"></head><body>
<header><h1><a href="/">NPS early-warning system</a></h1></header>
<main class="single"><section><h2>Not allowed</h2>
<p id="refused">{message}</p><p><a href="/">Back to the alerts</a> · <a href="/signin">Sign in as someone else</a></p>
</section></main></body></html>"""


def _page(request: Request, name: str, page: str) -> Response:
    """The page's HTML, or the sign-in form (nobody signed in), or 403 (a role it is not for)."""
    principal = identify(request)
    if principal is None:
        if accounts_exist(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    elif not principal.is_open and principal.role not in PAGES.get(page, ALL):
        title = ROLE_TITLES.get(principal.role, principal.role)  # type: ignore[call-overload]
        message = (f"This page is not for your role ({html.escape(str(title))}); "
                   "the API it reads answers 403 to it as well.")
        return HTMLResponse(_REFUSED.format(message=message), status_code=403)
    return HTMLResponse((WEB_DIR / name).read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store"})


@router.get("/", response_class=HTMLResponse)
def alerts_page(request: Request) -> Response:
    return _page(request, "index.html", "/")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str) -> Response:
    return _page(request, "alert.html", "/alerts/{alert_id}")


@router.get("/trends", response_class=HTMLResponse)
def trends_page(request: Request) -> Response:
    return _page(request, "trends.html", "/trends")


@router.get("/submissions", response_class=HTMLResponse)
def submissions_page(request: Request) -> Response:
    return _page(request, "submissions.html", "/submissions")


@router.get("/web/{name}")
def asset(name: str) -> Any:
    """A script, style sheet or image of the dashboard (no folders, no other file types)."""
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in ASSET_TYPES:
        raise HTTPException(404, "no such file")
    path = WEB_DIR / name
    if not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(str(path), media_type=ASSET_TYPES[suffix],
                        headers={"Cache-Control": "no-cache"})
