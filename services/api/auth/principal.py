"""Who is calling: the account behind a request, or nobody while no account exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.api.auth.permissions import Role

Via = Literal["token", "session", "open"]


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    `role` is None only in open mode (no account exists yet): the default submitter of the
    embedded deployment's first run, allowed what `Rule.open` allows.
    """

    username: str
    role: Role | None
    via: Via
    account_id: int | None = None
    areas: frozenset[str] = field(default_factory=frozenset)
    labs: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None
    csrf_token: str | None = None  # sessions only
    session_hash: str | None = None  # sessions only
    token_id: str | None = None  # tokens only

    @property
    def is_open(self) -> bool:
        return self.via == "open"

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return self.username if self.role is None else f"{self.role}:{self.username}"
