"""The simulated stream as files: valid, consistent, ordered, deterministic, fast."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from services.simulate import (
    SimulationError,
    SimulationSummary,
    arrival_time,
    iter_stream,
    simulate,
    simulate_command,
)
from streams.schemas import SCHEMAS

END = dt.date(2026, 10, 31)
SOURCES = ("ridr", "forensic", "market", "death")
ARRIVAL_FIELD = {
    "ridr": "received_at",
    "forensic": "analysed_on",
    "market": "collected_on",
    "death": "notified_on",
}
# A full-size simulation must be quick enough to run in every test session and every demo.
FULL_RUN_SECONDS = 10.0


def read(out: Path, source: str) -> list[dict]:
    with open(out / f"{source}.ndjson", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary, float]:
    out = tmp_path_factory.mktemp("simulation")
    began = time.perf_counter()
    summary = simulate(out, seed=7, months=12, end=END, scale=1.0)
    return out, summary, time.perf_counter() - began


@pytest.fixture(scope="module")
def records(full: tuple[Path, SimulationSummary, float]) -> dict[str, list[dict]]:
    return {source: read(full[0], source) for source in SOURCES}


def test_a_full_year_runs_in_seconds(full: tuple[Path, SimulationSummary, float]) -> None:
    out, summary, seconds = full
    print(f"scale 1.0, 12 months: {summary.total} records in {seconds:.2f} s")
    assert seconds < FULL_RUN_SECONDS
    assert {p.name for p in out.iterdir()} == {
        "ridr.ndjson",
        "forensic.ndjson",
        "market.ndjson",
        "death.ndjson",
        "ground_truth.json",
    }


def test_volume_and_mix_at_scale_one(full: tuple[Path, SimulationSummary, float]) -> None:
    counts = full[1].records
    assert 15_000 <= sum(counts.values()) <= 25_000
    assert counts["ridr"] > counts["forensic"] > counts["market"] > counts["death"] > 0


def test_every_record_validates_against_its_schema(records: dict[str, list[dict]]) -> None:
    for source, rows in records.items():
        for row in rows:
            SCHEMAS[source].model_validate(row)


def test_dates_are_consistent_and_inside_the_window(records: dict[str, list[dict]]) -> None:
    start = dt.date(2025, 11, 1)
    for row in records["ridr"]:
        received = dt.datetime.fromisoformat(row["received_at"])
        assert received.tzinfo is not None
        assert start <= dt.date.fromisoformat(row["event_date"]) <= received.date() <= END
    for row in records["forensic"]:
        assert (
            start
            <= dt.date.fromisoformat(row["collected_on"])
            <= dt.date.fromisoformat(row["analysed_on"])
            <= END
        )
    for row in records["market"]:
        assert start <= dt.date.fromisoformat(row["collected_on"]) <= END
    for row in records["death"]:
        assert (
            start
            <= dt.date.fromisoformat(row["date_of_death"])
            <= dt.date.fromisoformat(row["notified_on"])
            <= END
        )


def test_report_ids_are_unique_and_samples_link(records: dict[str, list[dict]]) -> None:
    for source in ("ridr", "market", "death"):
        ids = [row["report_id"] for row in records[source]]
        assert len(ids) == len(set(ids)), source
    lab_ids = [(row["lab_id"], row["report_id"]) for row in records["forensic"]]
    assert len(lab_ids) == len(set(lab_ids))
    samples = [(row["lab_id"], row["sample_id"]) for row in records["forensic"]]
    assert len(samples) == len(set(samples))
    assert len(Counter(row["lab_id"] for row in records["forensic"])) >= 3
    sample_ids = {row["sample_id"] for row in records["forensic"]}
    linked = [row["sample_id"] for row in records["ridr"] if "sample_id" in row]
    assert linked and all(sample in sample_ids for sample in linked)


def test_each_file_is_in_arrival_order(records: dict[str, list[dict]]) -> None:
    for source, rows in records.items():
        arrivals = [arrival_time(source, row) for row in rows]
        assert arrivals == sorted(arrivals), source


def test_iter_stream_merges_all_sources_in_arrival_order(
    full: tuple[Path, SimulationSummary, float],
) -> None:
    out, summary, _ = full
    items = list(iter_stream(out))
    assert len(items) == summary.total
    assert Counter(item.source for item in items) == Counter(summary.records)
    arrivals = [item.arrival for item in items]
    assert arrivals == sorted(arrivals)
    for arrival, source, record in items[:2000]:
        assert arrival.tzinfo is not None
        assert arrival.date().isoformat() == record[ARRIVAL_FIELD[source]][:10]
        if source != "ridr":
            assert dt.time(8) <= arrival.time() <= dt.time(21)


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    simulate(tmp_path / "a", seed=11, end=END, scale=0.3)
    simulate(tmp_path / "b", seed=11, end=END, scale=0.3)
    simulate(tmp_path / "c", seed=12, end=END, scale=0.3)
    for name in (
        "ridr.ndjson",
        "forensic.ndjson",
        "market.ndjson",
        "death.ndjson",
        "ground_truth.json",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "ridr.ndjson").read_bytes() != (
        tmp_path / "c" / "ridr.ndjson"
    ).read_bytes()


def test_scale_shrinks_the_background_but_keeps_every_threat(
    tmp_path: Path, full: tuple[Path, SimulationSummary, float]
) -> None:
    small = simulate(tmp_path, seed=7, end=END, scale=0.25)
    assert small.total < 0.35 * full[1].total
    assert set(small.threats) == set(full[1].threats)
    for per_source in small.threats.values():
        assert all(count >= 1 for count in per_source.values())


def test_end_defaults_to_yesterday(tmp_path: Path) -> None:
    summary = simulate(tmp_path, scale=0.1, months=6)
    assert summary.end == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert truth["end"] == summary.end.isoformat()
    for row in read(tmp_path, "ridr"):
        SCHEMAS["ridr"].model_validate(row)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end": dt.date.today() + dt.timedelta(days=3)}, "future"),
        ({"months": 3}, "months"),
        ({"scale": 0}, "scale"),
    ],
)
def test_impossible_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        simulate(tmp_path, **kwargs)


def test_simulate_command_prints_a_summary(tmp_path: Path) -> None:
    out = io.StringIO()
    assert simulate_command(tmp_path, 7, 6, END.isoformat(), 0.1, out) == 0
    text = out.getvalue()
    for word in (
        "ridr",
        "forensic",
        "market",
        "death",
        "total",
        "nitazene_as_heroin",
        str(tmp_path),
    ):
        assert word in text


def test_simulate_command_rejects_a_bad_end(tmp_path: Path) -> None:
    out = io.StringIO()
    assert simulate_command(tmp_path, 7, 12, "31/10/2026", 1.0, out) == 2
    assert "--end" in out.getvalue()
    assert not any(tmp_path.iterdir())
