"""The audit of reads of clinical detail: who read case-level evidence or raw records, and when.

Which reads count (DESIGN.md: clinical case detail is what intelligence users must never get):
an alert's full view (report keys, each signal's clinical picture, reviewers' reasons and
comments), its unsuppressed count series, detector hits (`/v1/signals`: report keys) and dead
letters (raw records: narratives, patient fields). Searches, restricted views, trends,
structures and reference data are not clinical detail and write nothing, so that the trail
stays readable.
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request

from services.api.auth.principal import Principal
from services.store import DetailRead

ALERT_EVIDENCE = "alert_evidence"
ALERT_SERIES = "alert_series"
SIGNALS = "signals"
DEAD_LETTERS = "dead_letters"


def record_read(request: Request, who: Principal, what: str, *, resource: str | None,
                items: int) -> None:
    """One row in `detail_read`, committed before the answer leaves (no read goes unrecorded)."""
    route = getattr(request.scope.get("route"), "path", request.url.path)
    client = request.client.host if request.client else None
    with request.app.state.system.store.session() as session:
        session.add(DetailRead(at=dt.datetime.now(dt.UTC), actor=who.actor, via=who.via,
                               token_id=who.token_id, client=client, what=what, route=route,
                               resource=resource, items=items))
