"""Append accepted records to `raw.<source>` again, from the system of record.

For a broker that lost records it had acknowledged (a restart that kept less than it said, a
disk lost), or a log restored from an older backup: every record the store accepted since a
moment reaches the pipeline again, as it was first appended (same envelope, same time of
receipt). Safe to repeat and to run while the pipeline runs: the normaliser's event ids derive
from (source, submitter, report_id), so a record appended twice counts once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select

from services.store import Store, Submission
from streams import topics
from streams.records import Accepted
from streams.transport import Transport


@dataclass
class Republished:
    """What `republish` appended, by source, and what it could not."""

    appended: Counter[str] = field(default_factory=Counter)
    # Accepted before the store kept the records themselves (store migration 0008).
    without_record: int = 0

    @property
    def total(self) -> int:
        return sum(self.appended.values())

    def as_dict(self) -> dict[str, object]:
        return {"appended": dict(sorted(self.appended.items())), "appended_total": self.total,
                "without_record": self.without_record}


def republish(store: Store, transport: Transport, *, since: dt.datetime,
              until: dt.datetime | None = None, sources: Collection[str] | None = None,
              batch: int = 1000) -> Republished:
    """Append every record accepted from `since` (until `until`) again, in the order accepted."""
    for moment, name in ((since, "since"), (until, "until")):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name}={moment.isoformat()}: give a time zone (e.g. +00:00)")
    out = Republished()
    last_id = 0
    while True:
        query = (select(Submission).where(Submission.id > last_id, Submission.received_at >= since)
                 .order_by(Submission.id).limit(batch))
        if until is not None:
            query = query.where(Submission.received_at < until)
        if sources:
            query = query.where(Submission.source.in_(sorted(sources)))
        with store.session() as session:
            rows = list(session.execute(query).scalars())
            by_topic: dict[str, list[tuple[str | None, dict]]] = {}
            for row in rows:
                if row.record is None:
                    out.without_record += 1
                    continue
                envelope = Accepted(source=row.source, submitter=row.submitter,
                                    report_id=row.report_id, received_at=row.received_at,
                                    via=row.via, record=row.record).model_dump(mode="json")
                by_topic.setdefault(row.source, []).append((row.record.get("area_code"),
                                                            envelope))
        if not rows:
            return out
        for source, items in by_topic.items():
            transport.produce_many(topics.raw(source), items)
            out.appended[source] += len(items)
        transport.flush()
        last_id = rows[-1].id
