"""Request and response schemas of subscriptions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    areas: list[str] = Field(default_factory=list, max_length=500,
                             description="ONS LAD codes within your areas (empty: all of them)")
    classes: list[str] = Field(default_factory=list, max_length=20,
                               description="substance classes (empty: every class)")
    min_severity: Severity = "high"


class SubscriptionRead(BaseModel):
    subscription_id: int
    areas: list[str]
    classes: list[str]
    min_severity: Severity
    created_at: str
    email: str | None
