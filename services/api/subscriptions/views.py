"""HTTP for subscriptions: list, make and end one's own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from services.api.auth.dependencies import CurrentPrincipal
from services.api.subscriptions import service
from services.api.subscriptions.models import SubscriptionCreate, SubscriptionRead

router = APIRouter(prefix="/v1", tags=["subscriptions"])


@router.get("/subscriptions", response_model=list[SubscriptionRead], summary="Your subscriptions")
def list_subscriptions(request: Request, who: CurrentPrincipal) -> list[dict[str, Any]]:
    return service.list_subscriptions(request.app.state.system.store, who)


@router.post("/subscriptions", response_model=SubscriptionRead, status_code=201,
             summary="Ask for an email when an alert for these areas and classes, at this "
                     "severity or above, is confirmed or published")
def create_subscription(request: Request, body: SubscriptionCreate,
                        who: CurrentPrincipal) -> dict[str, Any]:
    try:
        return service.create_subscription(request.app.state.system.store, who, areas=body.areas,
                                           classes=body.classes, min_severity=body.min_severity)
    except service.SubscriptionInvalid as exc:
        raise HTTPException(422, str(exc)) from exc


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="End a subscription")
def end_subscription(request: Request, subscription_id: int, who: CurrentPrincipal) -> Response:
    if not service.end_subscription(request.app.state.system.store, who, subscription_id):
        raise HTTPException(404, f"no subscription {subscription_id} of yours")
    return Response(status_code=204)
