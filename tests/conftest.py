"""Shared fixtures: an embedded system in a temporary folder, its API, and valid records."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from streams.records import Event, report_key, stable_id

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "ews")


@pytest.fixture
def system(settings: Settings) -> Iterator[EmbeddedSystem]:
    opened = EmbeddedSystem(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(system: EmbeddedSystem) -> Iterator[TestClient]:
    with TestClient(create_app(system)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def cli_logging() -> Iterator[None]:
    """`ews` (its `main`, which some tests call in-process) sends all logging to the standard
    error it finds: put the test run's handlers back after each test, so that no thread logs
    later into an output pytest has closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def ridr(report_id: str = "r-1", *, area: str = "E08000025", days_ago: int = 10,
         substances: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    day = TODAY - days_ago * DAY
    return {
        "report_id": report_id,
        "received_at": f"{(day + DAY).isoformat()}T09:30:00Z",
        "event_date": day.isoformat(),
        "reporter_role": "emergency_physician",
        "setting": "community",
        "area_code": area,
        "patient": {"age_band": "25-34", "sex": "male"},
        "substances": substances if substances is not None else [{"name": "heroin", "route": "injected"}],
        "clinical_features": ["reduced_consciousness", "respiratory_depression"],
        "severity": "severe",
        "outcome": "admitted",
        "naloxone_given": True,
        "naloxone_response": "partial",
        **extra,
    }


def forensic(report_id: str = "f-1", *, area: str = "E08000025", days_ago: int = 10,
             sold_as: str | None = "heroin", components: list[dict[str, Any]] | None = None,
             **extra: Any) -> dict[str, Any]:
    day = TODAY - days_ago * DAY
    return {
        "report_id": report_id,
        "lab_id": "lab-wm-1",
        "sample_id": f"S-{report_id}",
        "collected_on": day.isoformat(),
        "analysed_on": (day + 2 * DAY).isoformat(),
        "area_code": area,
        "setting": "police_seizure",
        "sold_as": sold_as,
        "form": "powder",
        "components": components if components is not None else [
            {"name": "heroin", "purity_percent": 30}, {"name": "caffeine"}],
        "method": "GC-MS",
        **extra,
    }


def market(report_id: str = "m-1", *, area: str = "E08000025", days_ago: int = 10, **extra: Any) -> dict[str, Any]:
    return {
        "report_id": report_id, "collected_on": (TODAY - days_ago * DAY).isoformat(),
        "area_code": area, "drug": "cocaine", "price_gbp": 80, "quantity": 1, "unit": "g",
        "purity_percent": 62.5, "source": "test_purchase", **extra,
    }


def death(report_id: str = "d-1", *, area: str = "E08000025", days_ago: int = 20, **extra: Any) -> dict[str, Any]:
    day = TODAY - days_ago * DAY
    return {
        "report_id": report_id, "date_of_death": day.isoformat(),
        "notified_on": (day + 5 * DAY).isoformat(), "area_code": area, "age_band": "35-44",
        "sex": "male", "setting": "home", "released_from_prison_days": 12,
        "substances": [{"name": "heroin"}, {"name": "diazepam"}], "cause_icd10": ["X42", "T40.1"],
        "status": "suspected", **extra,
    }


VALID = {"ridr": ridr, "forensic": forensic, "market": market, "death": death}


def valid(source: str, report_id: str = "x-1", **kw: Any) -> dict[str, Any]:
    return copy.deepcopy(VALID[source](report_id, **kw))


def mention_event(report: str, mention: int, day: dt.date, area: str, source: str,
                  substance: tuple[str | None, str | None, str | None]) -> Event:
    """The normalised event of one substance mention (key, preferred name, class) of a report,
    as the normaliser writes it, for tests of the detectors' state."""
    key = report_key(source, "default", report)
    substance_key, name, klass = substance
    return Event(event_id=stable_id("ev", key, mention), report_key=key, source=source,
                 submitter="default", report_id=report, area_code=area, region_code="E12000005",
                 setting="community", date=day, mention_index=mention,
                 received_at=dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC),
                 substance_key=substance_key, substance_name=name, substance_class=klass)
