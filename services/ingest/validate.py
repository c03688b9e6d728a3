"""Validation of incoming records against the v1 schemas, with errors that name the field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.geography import load_geography
from streams.schemas import SCHEMAS, Record


class IngestError(Exception):
    """Root of ingest failures."""


class UnknownSource(IngestError):
    def __init__(self, source: str) -> None:
        super().__init__(f"unknown source {source!r}; expected one of {', '.join(SCHEMAS)}")
        self.source = source


class RecordInvalid(IngestError):
    """A record that does not meet its schema; `errors` lists each field and its problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['problem']}" for e in errors))


def _named(error: dict[str, Any]) -> dict[str, str]:
    """One error as {field, problem}. A cross-field rule fails at the level of its object and
    names the field to correct (FieldConflict): the error is then that field's."""
    blamed = getattr((error.get("ctx") or {}).get("error"), "field", None)
    if isinstance(blamed, str):
        given = error.get("input")
        error = {**error, "loc": (*error["loc"], blamed),
                 "input": given.get(blamed) if isinstance(given, dict) else given}
    return {"field": _field_path(error["loc"]), "problem": _problem(error)}


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "literal[")):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "(record)"


def _problem(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "extra_forbidden":
        return "is not a field of this schema"
    if "input" in error and error.get("type") not in ("missing",):
        shown = repr(error["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"{message} (got {shown})"
    return message


def validate(source: str, payload: Any) -> Record:
    """The typed record for `payload`, or RecordInvalid naming every bad field."""
    schema = SCHEMAS.get(source)
    if schema is None:
        raise UnknownSource(source)
    if not isinstance(payload, dict):
        raise RecordInvalid([{"field": "(record)", "problem": f"must be a JSON object, got {type(payload).__name__}"}])
    try:
        record = schema.model_validate(payload)
    except ValidationError as exc:
        raise RecordInvalid(
            [_named(err) for err in exc.errors()]
        ) from None
    areas = load_geography().areas
    if record.area_code not in areas:  # type: ignore[attr-defined]
        raise RecordInvalid([{
            "field": "area_code",
            "problem": f"{record.area_code!r} is not a known local authority district code (LAD 2025)",  # type: ignore[attr-defined]
        }])
    return record


def submitter_for(source: str, account: str, record: Record) -> str:
    """The idempotency submitter: the account, and for forensic results the lab too."""
    if source == "forensic":
        return f"{account}:{record.lab_id}"  # type: ignore[attr-defined]
    return account
