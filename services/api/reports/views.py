"""HTTP for reports: schemas, POST one record or a batch, file upload, dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.api.auth import audit
from services.api.auth.dependencies import CurrentPrincipal
from services.api.auth.principal import Principal
from services.api.reports import replay, service
from services.ingest import FileFormatError, Outcome, UnknownSource
from services.ingest.json_input import JsonRefused, loads
from streams.schemas import SCHEMA_VERSION, SCHEMAS

router = APIRouter(prefix="/v1", tags=["reports"])
SourceParam = Annotated[str, Path(description="ridr, forensic, market or death")]


def _known(source: str) -> None:
    if source not in SCHEMAS:
        raise HTTPException(404, f"unknown source {source!r}; expected one of {', '.join(SCHEMAS)}")


def _accepted(outcomes: list[Outcome]) -> JSONResponse:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    return JSONResponse(status_code=202, content={
        "counts": counts, "results": [outcome.as_dict() for outcome in outcomes],
    })


@router.get("/schemas/{source}", summary="The JSON Schema of a v1 input")
def get_schema(source: SourceParam, _who: CurrentPrincipal) -> dict[str, Any]:
    _known(source)
    schema = SCHEMAS[source].model_json_schema()
    schema["$id"] = f"/v1/schemas/{source}"
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema


@router.post(
    "/reports/{source}", status_code=202,
    summary="Submit one record or a JSON array of records (all accepted, or none if any is invalid)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}}},
)
async def submit_reports(request: Request, source: SourceParam, who: CurrentPrincipal) -> JSONResponse:
    _known(source)
    system = request.app.state.system
    _may_submit(who, source)
    body = await _read_limited(request, system.settings.max_upload_bytes)
    try:
        payload = loads(body)
    except (JsonRefused, UnicodeDecodeError) as exc:
        return _invalid([{"index": 0, "field": "(body)", "problem": f"not valid JSON: {exc}"}],
                        "the request body is not valid JSON")
    try:
        outcomes = service.submit_json(system, source, who, payload)
    except service.BatchInvalid as exc:
        return _invalid(exc.errors, f"{exc}; nothing was accepted")
    except service.SubmitRefused as exc:
        return JSONResponse(status_code=403, content={"detail": str(exc), "errors": exc.errors})
    return _accepted(outcomes)


@router.post("/reports/{source}/files", status_code=202,
             summary="Upload a CSV or NDJSON file: good rows accepted, bad rows dead-lettered")
async def upload_file(request: Request, source: SourceParam, who: CurrentPrincipal,
                      file: Annotated[UploadFile, File(description=".csv or .ndjson")]) -> JSONResponse:
    _known(source)
    _may_submit(who, source)
    system = request.app.state.system
    data = await file.read(system.settings.max_upload_bytes + 1)
    if len(data) > system.settings.max_upload_bytes:
        raise HTTPException(413, f"file larger than {system.settings.max_upload_bytes} bytes")
    try:
        outcomes = service.submit_file(system, source, who, file.filename or "upload",
                                       file.content_type, data)
    except (FileFormatError, UnknownSource) as exc:
        return _invalid([{"index": 0, "field": "file", "problem": str(exc)}], str(exc))
    return _accepted(outcomes)


@router.get("/deadletter", summary="Records that could not go on, with why")
def list_dead_letters(request: Request, who: CurrentPrincipal, source: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    found = service.dead_letters(request.app.state.system, source=source, limit=limit,
                                 offset=offset)
    _audit_dead_letters(request, who, found)
    return found


def _audit_dead_letters(request: Request, who: Principal, found: dict[str, Any]) -> None:
    """Dead letters carry the raw records (narratives, patient fields): their reads are audited."""
    if found["dead_letters"]:
        audit.record_read(request, who, audit.DEAD_LETTERS,
                          resource=str(request.url.query) or None, items=len(found["dead_letters"]))


class ReplayRequest(BaseModel):
    """Which dead letters to replay: by id, or every one of a source, or (`all`) every one."""

    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, StringConstraints(pattern=r"^\d+-\d+$")]] | None = Field(
        None, max_length=10_000, description="dead-letter ids (\"partition-offset\")")
    source: str | None = None
    all: bool = False


@router.post("/deadletter/replay", summary="Try dead letters again, with today's rules")
def replay_dead_letters(request: Request, body: ReplayRequest, _who: CurrentPrincipal) -> dict[str, Any]:
    if body.ids is None and body.source is None and not body.all:
        raise HTTPException(422, "name the dead letters to replay: ids, a source, or all=true")
    if body.source is not None:
        _known(body.source)
    found = replay.replay(request.app.state.system, ids=body.ids, source=body.source,
                          open_submitter=request.app.state.open_submitter)
    counts: dict[str, int] = {}
    for item in found:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    return {"counts": counts, "results": [item.as_dict() for item in found]}


def _may_submit(who: Principal, source: str) -> None:
    try:
        service.check_source(who, source)
    except service.SubmitRefused as exc:
        raise HTTPException(403, str(exc)) from exc


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body larger than {limit} bytes")
    return bytes(body)


def _invalid(errors: list[dict[str, Any]], detail: str) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})
