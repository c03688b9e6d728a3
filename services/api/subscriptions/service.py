"""Subscriptions of public-health leads: plain functions over the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from services.api.auth.principal import Principal
from services.store import Store, Subscription

# DESIGN.md's class labels (the normaliser's vocabulary).
CLASSES = ("synthetic_cannabinoid", "synthetic_cathinone", "phenethylamine", "tryptamine",
           "arylcyclohexylamine", "benzodiazepine", "nitazene", "fentanyl_analogue", "other_opioid",
           "piperazine", "aminoindane", "lysergamide", "gabapentinoid", "xylazine_like", "other")


class SubscriptionInvalid(Exception):
    pass


def _view(row: Subscription, who: Principal) -> dict[str, Any]:
    return {"subscription_id": row.id, "areas": list(row.areas), "classes": list(row.classes),
            "min_severity": row.min_severity, "created_at": row.created_at.isoformat(),
            "email": who.email}


def list_subscriptions(store: Store, who: Principal) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.execute(select(Subscription).where(
            Subscription.account_id == who.account_id, Subscription.active.is_(True))
            .order_by(Subscription.id)).scalars()
        return [_view(row, who) for row in rows]


def create_subscription(store: Store, who: Principal, *, areas: list[str], classes: list[str],
                        min_severity: str) -> dict[str, Any]:
    """A subscription for alerts in some of the lead's own areas (default: all of them)."""
    wanted = sorted({a.strip().upper() for a in areas if a.strip()}) or sorted(who.areas)
    outside = [a for a in wanted if a not in who.areas]
    if outside:
        raise SubscriptionInvalid(f"area(s) {', '.join(outside)} are not among your areas "
                                  f"({', '.join(sorted(who.areas))}); an administrator can add them")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise SubscriptionInvalid(f"class(es) {', '.join(unknown)}: expected some of {', '.join(CLASSES)}")
    if not who.email:
        raise SubscriptionInvalid("your account has no email address: ask an administrator to add one")
    row = Subscription(account_id=who.account_id, areas=wanted, classes=sorted(set(classes)),
                       min_severity=min_severity, created_at=dt.datetime.now(dt.UTC), active=True)
    with store.session() as session:
        session.add(row)
        session.flush()
        return _view(row, who)


def end_subscription(store: Store, who: Principal, subscription_id: int) -> bool:
    """Stop a subscription of the caller's; False when there is none of theirs by that id."""
    with store.session() as session:
        row = session.get(Subscription, subscription_id)
        if row is None or row.account_id != who.account_id or not row.active:
            return False
        row.active = False
        return True
