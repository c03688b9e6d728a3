"""Accounts, their API tokens and browser sessions: plain functions over the store."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from services.api.auth.keys import new_token, parse_token, random_token, sha256_hex, token_matches
from services.api.auth.passwords import hash_password, verify_password
from services.api.auth.permissions import FORENSIC, PUBLIC_HEALTH, ROLES
from services.api.auth.principal import Principal
from services.geography import Geography
from services.store import Account, ApiToken, Store, WebSession

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
LAB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A token's last use is written at most this often (every request would make every read a write).
_TOUCH_EVERY = dt.timedelta(minutes=1)


class UserError(Exception):
    """Root of account errors; the message says what to change."""


class AccountInvalid(UserError):
    pass


class AccountExists(UserError):
    pass


class UnknownAccount(UserError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def account_view(account: Account) -> dict[str, Any]:
    return {
        "username": account.username, "role": account.role, "email": account.email,
        "areas": list(account.areas), "labs": list(account.labs), "disabled": account.disabled,
        "has_password": bool(account.password_hash),
        "created_at": account.created_at.isoformat(), "created_by": account.created_by,
    }


def _check(role: str, areas: Iterable[str], labs: Iterable[str], email: str | None,
           geography: Geography | None) -> tuple[list[str], list[str]]:
    if role not in ROLES:
        raise AccountInvalid(f"role {role!r}: expected one of {', '.join(ROLES)}")
    areas = sorted({area.strip().upper() for area in areas if area.strip()})
    labs = sorted({lab.strip() for lab in labs if lab.strip()})
    if geography is not None:
        unknown = [area for area in areas if area not in geography.areas]
        if unknown:
            raise AccountInvalid(f"unknown area code(s) {', '.join(unknown)}: use ONS local "
                                 "authority district codes such as E08000025")
    bad_labs = [lab for lab in labs if not LAB.match(lab)]
    if bad_labs:
        raise AccountInvalid(f"lab id(s) {bad_labs}: letters, digits, '.', '_' and '-' only")
    if labs and role != FORENSIC:
        raise AccountInvalid("only forensic providers have labs")
    if role == PUBLIC_HEALTH and not areas:
        raise AccountInvalid("a public-health lead needs at least one area (--area CODE)")
    if email is not None and email and not EMAIL.match(email):
        raise AccountInvalid(f"email {email!r} is not an address")
    return areas, labs


def create_account(store: Store, *, username: str, role: str, created_by: str,
                   areas: Iterable[str] = (), labs: Iterable[str] = (), email: str | None = None,
                   password: str | None = None, geography: Geography | None = None,
                   reserved: Iterable[str] = ()) -> dict[str, Any]:
    """A new account; `reserved` names may not be taken (the open mode's default submitter)."""
    if not USERNAME.match(username):
        raise AccountInvalid(f"username {username!r}: 2-64 characters, lower-case letters, digits, "
                             "'.', '_' and '-', starting with a letter or digit")
    if username in set(reserved):
        raise AccountInvalid(f"username {username!r} is reserved for records submitted before "
                             "there were accounts")
    if password is not None and len(password) < 10:
        raise AccountInvalid("a password needs at least 10 characters")
    area_list, lab_list = _check(role, areas, labs, email, geography)
    account = Account(username=username, role=role, email=email or None, areas=area_list,
                      labs=lab_list, password_hash=hash_password(password) if password else None,
                      disabled=False, created_at=_now(), created_by=created_by)
    try:
        with store.session() as session:
            session.add(account)
    except IntegrityError as exc:
        raise AccountExists(f"an account named {username!r} exists already") from exc
    return account_view(account)


def list_accounts(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        return [account_view(a) for a in session.execute(
            select(Account).order_by(Account.username)).scalars()]


def get_account(store: Store, username: str) -> dict[str, Any]:
    with store.session() as session:
        return account_view(_account(session, username))


def _account(session: Any, username: str) -> Account:
    account = session.execute(select(Account).where(Account.username == username)).scalar_one_or_none()
    if account is None:
        raise UnknownAccount(f"no account named {username!r}")
    return account


def update_account(store: Store, username: str, *, disabled: bool | None = None,
                   areas: Iterable[str] | None = None, labs: Iterable[str] | None = None,
                   email: str | None = None, password: str | None = None,
                   geography: Geography | None = None) -> dict[str, Any]:
    """Change an account; disabling it also ends its browser sessions (its tokens stop working)."""
    if password is not None and len(password) < 10:
        raise AccountInvalid("a password needs at least 10 characters")
    with store.session() as session:
        account = _account(session, username)
        new_areas, new_labs = _check(
            account.role, account.areas if areas is None else areas,
            account.labs if labs is None else labs, account.email if email is None else email,
            geography)
        account.areas, account.labs = new_areas, new_labs
        if email is not None:
            account.email = email or None
        if password is not None:
            account.password_hash = hash_password(password)
        if disabled is not None:
            account.disabled = disabled
        if disabled or password is not None:
            session.execute(delete(WebSession).where(WebSession.account_id == account.id))
        return account_view(account)


def disable_account(store: Store, username: str) -> dict[str, Any]:
    return update_account(store, username, disabled=True)


def any_accounts(store: Store) -> bool:
    with store.session() as session:
        return bool(session.execute(select(exists().where(Account.id.is_not(None)))).scalar())


def create_token(store: Store, username: str, *, created_by: str,
                 label: str | None = None) -> dict[str, Any]:
    """A new bearer token for an account; the token itself is in the answer, and nowhere else."""
    made = new_token()
    with store.session() as session:
        account = _account(session, username)
        session.add(ApiToken(token_id=made.token_id, account_id=account.id, salt=made.salt,
                             secret_hash=made.secret_hash, label=label, created_at=_now(),
                             created_by=created_by))
    return {"token_id": made.token_id, "token": made.token, "username": username, "label": label}


def _token_view(token: ApiToken, username: str) -> dict[str, Any]:
    return {"token_id": token.token_id, "username": username, "label": token.label,
            "created_at": token.created_at.isoformat(), "created_by": token.created_by,
            "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None}


def list_tokens(store: Store, username: str | None = None) -> list[dict[str, Any]]:
    with store.session() as session:
        stmt = select(ApiToken, Account.username).join(Account, Account.id == ApiToken.account_id)
        if username is not None:
            _account(session, username)
            stmt = stmt.where(Account.username == username)
        return [_token_view(token, name) for token, name in
                session.execute(stmt.order_by(ApiToken.created_at)).all()]


def revoke_token(store: Store, token_id: str) -> bool:
    """Revoke a token; False when there is no such token. Revoking twice is harmless."""
    with store.session() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            return False
        if token.revoked_at is None:
            token.revoked_at = _now()
        return True


def _principal(account: Account, via: str, **extra: Any) -> Principal:
    return Principal(username=account.username, role=account.role, via=via,  # type: ignore[arg-type]
                     account_id=account.id, areas=frozenset(account.areas),
                     labs=frozenset(account.labs), email=account.email, **extra)


def principal_from_token(store: Store, token: str) -> Principal | None:
    """The account of a valid, unrevoked token of an enabled account, else None."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    with store.session() as session:
        row = session.execute(
            select(ApiToken, Account).join(Account, Account.id == ApiToken.account_id)
            .where(ApiToken.token_id == token_id)).one_or_none()
        if row is None:
            token_matches(secret, "0" * 32, "0" * 64)  # the same work as a known id
            return None
        stored, account = row
        if not token_matches(secret, stored.salt, stored.secret_hash):
            return None
        if stored.revoked_at is not None or account.disabled:
            return None
        now = _now()
        if stored.last_used_at is None or now - stored.last_used_at > _TOUCH_EVERY:
            session.execute(update(ApiToken).where(ApiToken.token_id == token_id)
                            .values(last_used_at=now))
        return _principal(account, "token", token_id=token_id)


def sign_in(store: Store, username: str, password: str, *,
            hours: float) -> tuple[str, Principal] | None:
    """Check a password; a new session (its secret, for the cookie) and who signed in, or None."""
    with store.session() as session:
        account = session.execute(
            select(Account).where(Account.username == username)).scalar_one_or_none()
        stored = account.password_hash if account is not None else None
        if not verify_password(password, stored) or account is None or account.disabled:
            return None
        secret, csrf = random_token(), random_token()
        now = _now()
        session.execute(delete(WebSession).where(WebSession.account_id == account.id,
                                                 WebSession.expires_at < now))
        session.add(WebSession(session_hash=sha256_hex(secret), account_id=account.id,
                               csrf_token=csrf, created_at=now,
                               expires_at=now + dt.timedelta(hours=hours)))
        return secret, _principal(account, "session", csrf_token=csrf,
                                  session_hash=sha256_hex(secret))


def principal_from_session(store: Store, secret: str) -> Principal | None:
    """The account of a live session of an enabled account, else None."""
    digest = sha256_hex(secret)
    with store.session() as session:
        row = session.execute(
            select(WebSession, Account).join(Account, Account.id == WebSession.account_id)
            .where(WebSession.session_hash == digest)).one_or_none()
        if row is None:
            return None
        web, account = row
        if web.expires_at <= _now() or account.disabled:
            return None
        return _principal(account, "session", csrf_token=web.csrf_token, session_hash=digest)


def sign_out(store: Store, session_hash: str) -> None:
    with store.session() as session:
        session.execute(delete(WebSession).where(WebSession.session_hash == session_hash))


def principal_of(store: Store, username: str) -> Principal | None:
    """An enabled account as a caller, for work done on its behalf later (a dead-letter replay)."""
    with store.session() as session:
        account = session.execute(select(Account).where(Account.username == username)).scalar_one_or_none()
        if account is None or account.disabled:
            return None
        return _principal(account, "token")
