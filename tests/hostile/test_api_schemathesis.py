"""schemathesis against the API's own OpenAPI document, in process (ASGI): for every operation,
cases that fit the schema and cases that break it, sent with a real token of a role the
permission table lets in, so that they reach the handler. No answer is a 5xx, and every 4xx
says what is wrong: a `detail`, and for a 422 the fields at fault.

The number of cases is bounded per operation (EXAMPLES, for each of the positive and negative
modes), so the whole run stays within about half a minute on a 2-core machine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from services.api.auth.permissions import ROUTES
from tests.hostile.conftest import Api
from tests.hostile.strategies import cases

EXAMPLES = 8
# A role for each operation, most privileged for what it reads first, among those allowed.
_PREFERENCE = ("clinical", "forensic", "public_health", "intelligence", "admin")


def _role_for(method: str, path: str) -> str | None:
    rule = ROUTES.get((method.upper(), path))
    if rule is None:
        return None
    return next(role for role in _PREFERENCE if role in rule.roles)


def says_what_is_wrong(status: int, body: Any) -> str | None:
    """Why a 4xx answer fails to say what is wrong (None: it says)."""
    if not isinstance(body, dict):
        return f"{status} without a JSON object body"
    detail = body.get("detail")
    if not (isinstance(detail, str) and detail.strip()) and not isinstance(detail, list):
        return f"{status} without a detail: {body}"
    if status == 422:
        errors = body.get("errors") or (detail if isinstance(detail, list) else None)
        if isinstance(detail, str) and not errors and detail.strip():
            return None  # a rule across parameters (rows = cols), said in words
        if not errors or not all(isinstance(e, dict) and (e.get("field") or e.get("loc"))
                                 and (e.get("problem") or e.get("msg")) for e in errors):
            return f"422 without the fields at fault: {body}"
    return None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@pytest.fixture(scope="module")
def schema(api: Api) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", api.client.app)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    not_generated: list[str] = field(default_factory=list)


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str], tally: Tally) -> None:
    """EXAMPLES generated cases of one operation in one mode, each answer checked."""
    try:
        strategy = operation.as_strategy(generation_mode=mode, headers=headers)
    except Exception as exc:  # noqa: BLE001 - e.g. a schema with nothing to negate
        tally.not_generated.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}")
        return

    # Negative cases of a small schema are often all filtered out: that is not a failure here.
    @settings(cases(EXAMPLES), suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case: Any) -> None:
        try:
            response = case.call()
        except Exception as exc:  # noqa: BLE001 - an exception out of the app is a 500
            tally.failures.append(f"{operation.label} [{mode.value}] raised {exc!r}: "
                                  f"{case.as_curl_command()}")
            return
        tally.calls[operation.label] += 1
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.failures.append(f"{operation.label} [{mode.value}] {response.status_code}: "
                                  f"{case.as_curl_command()}\n{response.text[:300]}")
        elif 400 <= response.status_code < 500:
            why = says_what_is_wrong(response.status_code, _json(response))
            if why:
                tally.failures.append(f"{operation.label} [{mode.value}] {why}\n"
                                      f"{case.as_curl_command()}")

    try:
        call()
    except Unsatisfiable:  # nothing to break: an operation without parameters or body
        tally.not_generated.append(f"{operation.label} [{mode.value}]")


def test_no_operation_answers_5xx_and_every_4xx_says_what_is_wrong(
        api: Api, schema: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, [op.label for op in operations]
    for operation in operations:
        role = _role_for(operation.method, operation.path)
        if role is None and operation.path.startswith("/v1/"):
            tally.failures.append(f"{operation.label}: no permission rule")
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, mode, api.headers(role) if role else {}, tally)
    with capsys.disabled():
        print(f"\nschemathesis: {sum(tally.calls.values())} calls over {len(operations)} "
              f"operations; statuses {dict(sorted(tally.statuses.items()))}; not generated: "
              f"{tally.not_generated or 'none'}")
    assert not tally.failures, "\n\n".join(tally.failures[:20])
