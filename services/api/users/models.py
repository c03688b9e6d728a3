"""Request and response schemas of accounts and tokens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.api.auth.permissions import Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountBase(_Strict):
    email: str | None = Field(default=None, max_length=320)
    areas: list[str] = Field(default_factory=list, max_length=500,
                             description="ONS LAD codes (public-health leads: their areas)")
    labs: list[str] = Field(default_factory=list, max_length=100,
                            description="lab ids a forensic provider submits for")


class AccountCreate(AccountBase):
    username: str = Field(min_length=2, max_length=64)
    role: Role
    password: str | None = Field(default=None, min_length=10, max_length=1024,
                                 description="for people who sign in; machines use tokens")


class AccountUpdate(_Strict):
    email: str | None = Field(default=None, max_length=320)
    areas: list[str] | None = Field(default=None, max_length=500)
    labs: list[str] | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, min_length=10, max_length=1024)
    disabled: bool | None = None


class AccountRead(AccountBase):
    username: str
    role: Role
    disabled: bool
    has_password: bool
    created_at: str
    created_by: str


class TokenCreate(_Strict):
    label: str | None = Field(default=None, max_length=200)


class TokenCreated(BaseModel):
    token_id: str
    token: str = Field(description="shown this once; store it now")
    username: str
    label: str | None


class TokenRead(BaseModel):
    token_id: str
    username: str
    label: str | None
    created_at: str
    created_by: str
    revoked_at: str | None
    last_used_at: str | None


class Me(BaseModel):
    username: str
    role: Role | None = Field(description="null while no account exists (open mode)")
    role_title: str
    via: str = Field(description="token, session or open")
    areas: list[str]
    labs: list[str]
    email: str | None
    csrf_token: str | None = Field(description="send as X-CSRF-Token with every change made "
                                               "with the session cookie")
    submits: list[str] = Field(description="the inputs this account may submit")
    pages: list[str] = Field(default_factory=list,
                             description="the dashboard's pages this account may open")
