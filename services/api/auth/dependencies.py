"""Authentication (bearer token, session cookie, or open mode) and the permission check.

`authorize` runs on every route under /v1 (the router map mounts every router with it). It
finds the caller, checks the CSRF token of a cookie-authenticated change, and looks the route
up in `permissions.ROUTES`: a route missing from the table is refused, never let through.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from services.api.auth.keys import same, signing_key, unsign
from services.api.auth.permissions import rule_for
from services.api.auth.principal import Principal
from services.api.auth.ratelimit import RateLimited, RateLimiter
from services.api.users import service as users
from services.pipeline import EmbeddedSystem

SESSION_COOKIE = "ews_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BEARER = {"WWW-Authenticate": 'Bearer realm="ews"'}


def install(app: FastAPI, system: EmbeddedSystem, *, open_submitter: str) -> None:
    """Keep what authentication needs on the app: the signing key, the open-mode submitter."""
    app.state.signing_key = signing_key(system.settings)
    app.state.open_submitter = open_submitter
    app.state.accounts_exist = False
    app.state.request_limits = RateLimiter(system.settings.rate_limit_per_minute)
    app.state.failure_limits = RateLimiter(system.settings.auth_failures_per_minute)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_failures(request: Request) -> str:
    """Refuse (429) an address that failed to authenticate too often lately; its limiter key.

    Checked before any credential is looked at, so that a guesser learns nothing more once
    refused; each failure is then charged with `failed`.
    """
    key = f"address:{client_address(request)}"
    wait = request.app.state.failure_limits.wait(key)
    if wait > 0:
        raise RateLimited(wait, "failed sign-ins or requests without valid credentials from "
                                "this address")
    return key


def failed(request: Request, key: str) -> None:
    request.app.state.failure_limits.spend(key)


def _limit_key(request: Request, principal: Principal) -> str:
    if principal.via == "token":
        return f"token:{principal.token_id}"
    if principal.via == "session":
        return f"account:{principal.account_id}"
    return f"open:{client_address(request)}"


def accounts_exist(request: Request) -> bool:
    """Whether any account exists; once true it stays true (accounts are disabled, not deleted)."""
    state = request.app.state
    if not state.accounts_exist:
        state.accounts_exist = users.any_accounts(request.app.state.system.store)
    return state.accounts_exist


def session_secret(request: Request) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return unsign(request.app.state.signing_key, cookie) if cookie else None


def identify(request: Request) -> Principal | None:
    """The caller: a bearer token's account, a signed-in browser's, open mode, or None.

    Raises:
        HTTPException: 401 for a malformed or invalid bearer token (never silently anonymous).
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    store = request.app.state.system.store
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "use the header `Authorization: Bearer <token>`",
                                headers=_BEARER)
        principal = users.principal_from_token(store, value.strip())
        if principal is None:
            raise HTTPException(401, "the bearer token is not valid: unknown, revoked, or its "
                                     "account is disabled", headers=_BEARER)
        return principal
    secret = session_secret(request)
    if secret is not None:
        principal = users.principal_from_session(store, secret)
        if principal is not None:
            return principal
    if not accounts_exist(request):
        return Principal(username=request.app.state.open_submitter, role=None, via="open")
    return None


def check_csrf(request: Request, principal: Principal, submitted: str | None = None) -> None:
    """A change made with a session cookie must carry the session's CSRF token.

    Bearer-token requests need none: a browser never adds that header by itself.
    """
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    sent = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
        raise HTTPException(403, f"missing or wrong CSRF token: send the session's token (from "
                                 f"GET /v1/me) in the {CSRF_HEADER} header")


def authorize(request: Request) -> Principal:
    """The permission check of every /v1 route: who is calling, and may they call this route."""
    route = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    rule = rule_for(method, getattr(route, "path", ""))
    if rule is None:
        raise HTTPException(403, "this route has no entry in the permission table")
    failures = check_failures(request)
    try:
        principal = identify(request)
    except HTTPException:
        failed(request, failures)
        raise
    if principal is None:
        failed(request, failures)
        raise HTTPException(401, "sign in at /signin, or send `Authorization: Bearer <token>`",
                            headers=_BEARER)
    request.app.state.request_limits.check(_limit_key(request, principal), "requests")
    if principal.is_open:
        if not rule.open:
            raise HTTPException(401, "this needs an account; none exists yet: create one with "
                                     "`ews users add NAME --role ROLE`", headers=_BEARER)
    else:
        check_csrf(request, principal)
        if principal.role not in rule.roles:
            raise HTTPException(403, f"a {principal.role} account may not do this")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authorize)]
