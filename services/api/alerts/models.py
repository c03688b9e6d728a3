"""Request schemas of alert review."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["new", "under_review", "confirmed", "dismissed", "published", "closed"]
Severity = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusChange(_Strict):
    to: Status
    why: str | None = Field(default=None, max_length=4000,
                            description="required for every change but starting a review")


class SeverityChange(_Strict):
    severity: Severity
    why: str = Field(min_length=1, max_length=4000)


class AssignmentChange(_Strict):
    assignee: str | None = Field(description="a clinical-network username; null: nobody")
    why: str | None = Field(default=None, max_length=4000)


class CommentCreate(_Strict):
    body: str = Field(min_length=1, max_length=10_000)
