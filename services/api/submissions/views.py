"""HTTP for submissions: the caller's own records and what became of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from services.api.auth import audit
from services.api.auth.dependencies import CurrentPrincipal
from services.api.submissions import service

router = APIRouter(prefix="/v1", tags=["submissions"])


@router.get("/submissions", summary="Your submissions: accepted, normalised (substances), "
                                    "dead-lettered (why), linked alerts")
def list_submissions(request: Request, who: CurrentPrincipal,
                     source: Annotated[str | None, Query(max_length=16)] = None,
                     report_id: Annotated[str | None, Query(max_length=128)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    return service.list_submissions(request.app.state.system, who, source=source,
                                    report_id=report_id, limit=limit, offset=offset)


@router.get("/submissions/deadletters", summary="Your records that could not go on, with why")
def list_dead_letters(request: Request, who: CurrentPrincipal,
                      source: Annotated[str | None, Query(max_length=16)] = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    found = service.dead_letters(request.app.state.system, who, source=source, limit=limit,
                                 offset=offset)
    if found["dead_letters"]:  # one's own raw records, but still narratives and patient fields
        audit.record_read(request, who, audit.DEAD_LETTERS,
                          resource=str(request.url.query) or None, items=len(found["dead_letters"]))
    return found


@router.get("/submissions/{submission_id}", summary="One of your submissions and its state")
def get_submission(request: Request, submission_id: int, who: CurrentPrincipal) -> dict[str, Any]:
    found = service.get_submission(request.app.state.system, who, submission_id)
    if found is None:  # not there, or someone else's: the same answer
        raise HTTPException(404, f"no submission {submission_id} of yours")
    return found
