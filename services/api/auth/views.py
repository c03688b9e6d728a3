"""The sign-in page for people: a form, a session cookie, and signing out.

The cookie holds a random session secret, signed with the key (`EWS_SECRET_KEY`); the store
keeps only its hash, with the session's CSRF token. The cookie is HttpOnly and SameSite=Lax,
and Secure when `EWS_COOKIE_SECURE` is set. The sign-in form itself is protected against login
CSRF by a double-submitted token (a signed cookie and a hidden field that must agree).
"""

from __future__ import annotations

import html
import threading
import time
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.auth.dependencies import (
    SESSION_COOKIE,
    check_csrf,
    check_failures,
    failed,
    identify,
)
from services.api.auth.keys import random_token, same, sign, unsign
from services.api.auth.ratelimit import RateLimited
from services.api.users import service as users

router = APIRouter(include_in_schema=False)
SIGNIN_COOKIE = "ews_signin"
_MAX_FAILURES, _FAILURE_WINDOW_S = 10, 900.0


class _Throttle:
    """At most `_MAX_FAILURES` wrong passwords per username per window (per process)."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, username: str) -> bool:
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if time.monotonic() - t < _FAILURE_WINDOW_S]
            self._failures[username] = recent
            return len(recent) >= _MAX_FAILURES

    def failed(self, username: str) -> None:
        with self._lock:
            self._failures.setdefault(username, []).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)


_throttle = _Throttle()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: NPS early-warning system</title>
<style>
 body {{ font: 14px/1.4 system-ui, sans-serif; background: #f5f6f8; color: #1d2330; margin: 0; }}
 header {{ background: #1d3557; color: #fff; padding: 10px 20px; }} header h1 {{ font-size: 18px; margin: 0; }}
 form {{ background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 20px; width: 320px; margin: 40px auto; }}
 label {{ display: block; margin: 10px 0 4px; }} input[type=text], input[type=password] {{ width: 100%; padding: 6px; box-sizing: border-box; }}
 button {{ margin-top: 14px; padding: 6px 14px; }} .error {{ color: #9b1c1c; }} .muted {{ color: #667; font-size: 12px; }}
</style></head>
<body><header><h1>NPS early-warning system</h1></header>
<form method="post" action="/signin" aria-label="Sign in">
 <h2>Sign in</h2>
 {message}
 <label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" required value="{username}">
 <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
 <input type="hidden" name="csrf_token" value="{csrf}">
 <input type="hidden" name="next" value="{next}">
 <button type="submit">Sign in</button>
 <p class="muted">Machines use an API token instead: <code>Authorization: Bearer ews_...</code>
 (an administrator makes one with <code>ews users token NAME</code>).</p>
</form></body></html>
"""


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://host` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(request: Request, *, message: str = "", username: str = "", target: str = "/",
          status: int = 200) -> HTMLResponse:
    csrf = random_token(24)
    body = _PAGE.format(message=f'<p class="error" role="alert">{html.escape(message)}</p>' if message else "",
                        username=html.escape(username), csrf=csrf,
                        next=html.escape(_safe_next(target)))
    response = HTMLResponse(body, status_code=status)
    response.set_cookie(SIGNIN_COOKIE, sign(request.app.state.signing_key, csrf), httponly=True,
                        samesite="lax", secure=request.app.state.system.settings.cookie_secure,
                        path="/signin", max_age=3600)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    return _form(request, target=next)


@router.post("/signin")
def signin(request: Request, username: Annotated[str, Form(max_length=64)],
           password: Annotated[str, Form(max_length=1024)],
           csrf_token: Annotated[str, Form(max_length=200)] = "",
           next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    cookie = request.cookies.get(SIGNIN_COOKIE)
    expected = unsign(request.app.state.signing_key, cookie) if cookie else None
    if not expected or not csrf_token or not same(csrf_token, expected):
        return _form(request, message="The form expired; please sign in again.",
                     username=username, target=next, status=403)
    if _throttle.blocked(username):
        response = _form(request, message="Too many wrong passwords; try again in 15 minutes.",
                         username=username, target=next, status=429)
        response.headers["Retry-After"] = str(int(_FAILURE_WINDOW_S))
        return response
    try:
        failures = check_failures(request)
    except RateLimited as exc:
        response = _form(request, message=f"Too many failed sign-ins from your address; try "
                         f"again in {exc.retry_after} s.", username=username, target=next,
                         status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    settings = request.app.state.system.settings
    signed_in = users.sign_in(request.app.state.system.store, username, password,
                              hours=settings.session_hours)
    if signed_in is None:
        _throttle.failed(username)
        failed(request, failures)
        return _form(request, message="Wrong username or password.", username=username,
                     target=next, status=401)
    _throttle.succeeded(username)
    secret, _principal = signed_in
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, sign(request.app.state.signing_key, secret),
                        httponly=True, samesite="lax", secure=settings.cookie_secure, path="/",
                        max_age=int(settings.session_hours * 3600))
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session (CSRF token in the form field `csrf_token` or the X-CSRF-Token header)."""
    principal = identify(request)
    if principal is None or principal.via != "session":
        raise HTTPException(401, "not signed in with a session")
    submitted = None
    if "x-csrf-token" not in request.headers:
        form = await request.form()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else ""
    check_csrf(request, principal, submitted)
    assert principal.session_hash is not None
    users.sign_out(request.app.state.system.store, principal.session_hash)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
