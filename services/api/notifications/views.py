"""HTTP for notifications: what was sent, the outbox folder (embedded/demo), digests on demand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict

from services.api.auth.dependencies import CurrentPrincipal
from services.api.auth.principal import Principal
from services.api.notifications import service
from services.notify import list_outbox, read_outbox_message, send_digests

router = APIRouter(prefix="/v1", tags=["notifications"])


class DigestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: dt.date | None = None  # default: yesterday (UTC)


def _recipient(who: Principal) -> str | None:
    """Whose messages the caller may read: an administrator everyone's, a lead their own."""
    if who.role == "admin":
        return None
    return who.email or "\x00nobody"


@router.get("/notifications", summary="Alert emails and digests sent (yours; all for an admin), "
                                      "with their delivery status")
def notifications(request: Request, who: CurrentPrincipal,
                  status: Annotated[str | None, Query(max_length=16)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    return service.sent(request.app.state.system.store, who, status=status, limit=limit)


@router.post("/notifications/digest", summary="Send the daily digest of a day now (default: "
                                              "yesterday); each subscriber gets it at most once")
def digest(request: Request, body: DigestRequest, _who: CurrentPrincipal) -> dict[str, Any]:
    day = body.day or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    return {"day": day.isoformat(), "sent": send_digests(request.app.state.system, day)}


@router.get("/outbox", summary="Emails written to the outbox folder (when no SMTP host is set)")
def outbox(request: Request, who: CurrentPrincipal,
           limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    settings = request.app.state.system.settings
    messages = list_outbox(settings.outbox_path(), recipient=_recipient(who), limit=limit)
    return {"delivery": f"smtp://{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host
            else "outbox", "messages": messages}


@router.get("/outbox/{name}", response_class=PlainTextResponse,
            summary="One email of the outbox, as sent (RFC 5322 text)")
def outbox_message(request: Request, name: str, who: CurrentPrincipal) -> PlainTextResponse:
    text = read_outbox_message(request.app.state.system.settings.outbox_path(), name,
                               recipient=_recipient(who))
    if text is None:
        raise HTTPException(404, f"no message {name!r} for you in the outbox")
    return PlainTextResponse(text)
