"""HTTP for accounts and tokens (admin), and who the caller is (everyone)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from services.api.auth.dependencies import CurrentPrincipal
from services.api.auth.permissions import PAGES, ROLE_TITLES, SUBMITS
from services.api.users import service
from services.api.users.models import (
    AccountCreate,
    AccountRead,
    AccountUpdate,
    Me,
    TokenCreate,
    TokenCreated,
    TokenRead,
)
from streams.schemas import SCHEMAS

router = APIRouter(prefix="/v1", tags=["accounts"])


def _http(exc: service.UserError) -> HTTPException:
    status = {service.UnknownAccount: 404, service.AccountExists: 409}.get(type(exc), 422)
    return HTTPException(status, str(exc))


@router.get("/me", response_model=Me, summary="Who is calling, with the session's CSRF token")
def me(who: CurrentPrincipal) -> Me:
    return Me(username=who.username, role=who.role,
              role_title=ROLE_TITLES[who.role] if who.role else "no accounts configured",
              via=who.via, areas=sorted(who.areas), labs=sorted(who.labs), email=who.email,
              csrf_token=who.csrf_token,
              submits=sorted(SCHEMAS) if who.role is None else sorted(SUBMITS.get(who.role, ())),
              pages=[page for page, roles in PAGES.items()
                     if "{" not in page and (who.role is None or who.role in roles)])


@router.get("/users", response_model=list[AccountRead], summary="Every account")
def list_users(request: Request, _who: CurrentPrincipal) -> list[dict]:
    return service.list_accounts(request.app.state.system.store)


@router.post("/users", response_model=AccountRead, status_code=201, summary="Make an account")
def create_user(request: Request, body: AccountCreate, who: CurrentPrincipal) -> dict:
    system = request.app.state.system
    try:
        return service.create_account(
            system.store, username=body.username, role=body.role, created_by=who.username,
            areas=body.areas, labs=body.labs, email=body.email, password=body.password,
            geography=system.geography, reserved=[system.settings.default_submitter])
    except service.UserError as exc:
        raise _http(exc) from exc


@router.patch("/users/{username}", response_model=AccountRead,
              summary="Change an account: areas, labs, email, password, disabled")
def update_user(request: Request, username: str, body: AccountUpdate, _who: CurrentPrincipal) -> dict:
    system = request.app.state.system
    try:
        return service.update_account(
            system.store, username, disabled=body.disabled, areas=body.areas, labs=body.labs,
            email=body.email, password=body.password, geography=system.geography)
    except service.UserError as exc:
        raise _http(exc) from exc


@router.get("/users/{username}/tokens", response_model=list[TokenRead],
            summary="An account's API tokens (never the tokens themselves)")
def list_tokens(request: Request, username: str, _who: CurrentPrincipal) -> list[dict]:
    try:
        return service.list_tokens(request.app.state.system.store, username)
    except service.UserError as exc:
        raise _http(exc) from exc


@router.post("/users/{username}/tokens", response_model=TokenCreated, status_code=201,
             summary="Make an API token for an account; the token is shown this once")
def create_token(request: Request, username: str, body: TokenCreate, who: CurrentPrincipal) -> dict:
    try:
        return service.create_token(request.app.state.system.store, username,
                                    created_by=who.username, label=body.label)
    except service.UserError as exc:
        raise _http(exc) from exc


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(request: Request, token_id: str, _who: CurrentPrincipal) -> Response:
    if not service.revoke_token(request.app.state.system.store, token_id):
        raise HTTPException(404, f"no token {token_id!r}")
    return Response(status_code=204)
