"""The simulated stream on disk: one NDJSON file per source, each in arrival order, and their
replay merged across sources.

A record "arrives" when the system would receive it: `received_at` for ridr, the day of
analysis for forensic, the day of collection for market, the day of notification for death.
Where only a day is known, a time of day within working hours is derived from the record's
identity, so that the same record always arrives at the same moment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

SOURCES: tuple[str, ...] = ("ridr", "forensic", "market", "death")
FILES: dict[str, str] = {source: f"{source}.ndjson" for source in SOURCES}
GROUND_TRUTH_FILE = "ground_truth.json"
ARRIVAL_FIELD: dict[str, str] = {
    "ridr": "received_at",
    "forensic": "analysed_on",
    "market": "collected_on",
    "death": "notified_on",
}
# Minutes after midnight (UTC) between which a record known only by its day arrives.
ARRIVAL_HOURS: dict[str, tuple[int, int]] = {
    "forensic": (8 * 60, 18 * 60),
    "market": (10 * 60, 21 * 60),
    "death": (8 * 60 + 30, 17 * 60 + 30),
}


class StreamItem(NamedTuple):
    """One record of the replayed stream."""

    arrival: dt.datetime
    source: str
    record: dict[str, Any]


def arrival_time(source: str, record: dict[str, Any]) -> dt.datetime:
    """When `record` of `source` reaches the system (timezone-aware, UTC)."""
    value = record[ARRIVAL_FIELD[source]]
    if source == "ridr":
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    opens, closes = ARRIVAL_HOURS[source]
    identity = f"{source}/{record.get('lab_id', '')}/{record['report_id']}".encode()
    digest = int.from_bytes(hashlib.sha256(identity).digest()[:8], "big")
    minute = opens + digest % (closes - opens)
    second = (digest >> 32) % 60
    day = dt.date.fromisoformat(value)
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60, second), dt.UTC)


def write_source(out_dir: Path, source: str, records: Iterable[dict[str, Any]]) -> int:
    """Write records of one source, sorted by arrival, as NDJSON; return how many."""
    keyed = sorted(
        ((arrival_time(source, r), r.get("lab_id", ""), r["report_id"], r) for r in records),
        key=lambda item: item[:3],
    )
    path = out_dir / FILES[source]
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for *_, record in keyed:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
    return len(keyed)


def read_source(out_dir: Path, source: str) -> Iterator[dict[str, Any]]:
    """The records of one source file, in file order."""
    with open(Path(out_dir) / FILES[source], encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def iter_stream(out_dir: Path) -> Iterator[StreamItem]:
    """The four source files of a simulation merged in arrival order (ties: ridr, forensic,
    market, death), read lazily, for replay in accelerated time."""

    def items(source: str) -> Iterator[StreamItem]:
        for record in read_source(out_dir, source):
            yield StreamItem(arrival_time(source, record), source, record)

    present = [source for source in SOURCES if (Path(out_dir) / FILES[source]).exists()]
    if not present:
        raise FileNotFoundError(f"no simulated stream in {out_dir}: run `ews simulate` first")
    yield from heapq.merge(*(items(source) for source in present), key=lambda item: item.arrival)
