"""`ews detect series` (services.detector.series) through its command function."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.detector.ears import ears
from services.detector.series import DEFAULT_METHOD, METHODS, detect_series_command

GOLDEN = Path(__file__).parent / "golden"
SERIES = pd.read_csv(GOLDEN / "series.csv").rename(columns={"t": "period"})
FARRINGTON = pd.read_csv(GOLDEN / "farrington_golden.csv")


def run(tmp_path: Path, rows: pd.DataFrame | str, **options) -> tuple[int, pd.DataFrame, str]:
    """Write ``rows`` as the input file, run the command; return (status, output, stdout text)."""
    path = tmp_path / "in.csv"
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        rows.to_csv(path, index=False)
    out = io.StringIO()
    status = detect_series_command(
        path,
        options.get("method"),
        options.get("start"),
        options.get("freq", "week"),
        out,
    )
    text = out.getvalue()
    frame = (
        pd.read_csv(io.StringIO(text), dtype={"series_id": str, "period": str}) if text else None
    )
    return status, frame, text


def test_one_row_per_input_row_in_input_order(tmp_path: Path) -> None:
    shuffled = SERIES.sample(frac=1.0, random_state=3).reset_index(drop=True)
    status, out, text = run(tmp_path, shuffled, method="ears_c2")
    assert status == 0
    assert text.splitlines()[0] == "series_id,period,expected,upper,alarm"
    assert list(out["series_id"]) == list(shuffled["series_id"])
    assert list(out["period"]) == list(shuffled["period"].astype(str))


def test_empty_verdict_means_empty_expected_and_upper(tmp_path: Path) -> None:
    status, out, text = run(tmp_path, SERIES[SERIES["series_id"] == "short"], method="ears_c3")
    assert status == 0
    lines = text.splitlines()[1:]
    assert lines[0] == "short,1,,,"
    undecided = out["alarm"].isna()
    assert undecided.sum() == 11  # C3 needs baseline + 4 = 11 earlier periods
    assert out.loc[undecided, ["expected", "upper"]].isna().all().all()
    assert set(out.loc[~undecided, "alarm"]) <= {0, 1}
    assert not out.loc[~undecided, ["expected", "upper"]].isna().any().any()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_row_is_judged_on_earlier_rows_only(tmp_path: Path, method: str) -> None:
    outbreak = SERIES[SERIES["series_id"] == "outbreak"]
    _, whole, _ = run(tmp_path, outbreak, method=method)
    cut = 300
    changed = outbreak.copy()
    changed.loc[changed["period"] > cut, "count"] = 500  # the future must not matter
    _, truncated, _ = run(tmp_path, changed, method=method)
    before = whole["period"].astype(int) <= cut
    pd.testing.assert_frame_equal(whole[before], truncated[before])


def test_ears_methods_are_the_ears_module(tmp_path: Path) -> None:
    counts = SERIES.loc[SERIES["series_id"] == "seasonal", "count"].to_numpy()
    _, out, _ = run(tmp_path, SERIES[SERIES["series_id"] == "seasonal"], method="ears_c1")
    expected = ears(counts, "C1")
    np.testing.assert_allclose(out["upper"], expected.upper, rtol=1e-9)
    np.testing.assert_array_equal(out["alarm"], expected.alarm)


@pytest.mark.parametrize(("method", "config"), [("farrington", "improved"), (None, "improved")])
def test_farrington_rows_agree_with_r(tmp_path: Path, method: str | None, config: str) -> None:
    _, out, _ = run(tmp_path, SERIES[SERIES["series_id"] == "outbreak"], method=method)
    golden = FARRINGTON[(FARRINGTON["config"] == config) & (FARRINGTON["series_id"] == "outbreak")]
    rows = out.set_index(out["period"].astype(int)).loc[golden["t"]]
    np.testing.assert_allclose(rows["expected"], golden["expected_all"], rtol=1e-6)
    np.testing.assert_allclose(rows["upper"], golden["upper_all"], rtol=1e-6)
    np.testing.assert_array_equal(rows["alarm"], golden["alarm"])


def test_default_uses_farrington_with_3_to_5_years_and_ears_c2_before(tmp_path: Path) -> None:
    assert DEFAULT_METHOD == "auto"
    trending = SERIES[SERIES["series_id"] == "trending"]
    _, out, _ = run(tmp_path, trending)
    period = out["period"].astype(int)
    # Periods 160-211 have three years of baseline: R's farringtonFlexible with b = 3.
    golden = FARRINGTON[
        (FARRINGTON["config"] == "improved_b3") & (FARRINGTON["series_id"] == "trending")
    ]
    golden = golden[golden["t"] <= 211]
    rows = out.set_index(period).loc[golden["t"]]
    np.testing.assert_allclose(rows["upper"], golden["upper_all"], rtol=1e-6)
    np.testing.assert_array_equal(rows["alarm"], golden["alarm"])
    # Before that, EARS C2.
    c2 = ears(trending["count"].to_numpy(), "C2")
    early = (period < 160).to_numpy()
    np.testing.assert_array_equal(out.loc[early, "alarm"], c2.alarm[early])
    assert out.loc[early, "alarm"].isna().sum() == 9


def test_iso_weeks_with_gaps_count_missing_weeks_as_zero(tmp_path: Path) -> None:
    counts = SERIES.loc[SERIES["series_id"] == "flat", "count"].to_numpy()
    mondays = pd.date_range("2021-01-04", periods=counts.size, freq="7D")
    dated = pd.DataFrame(
        {"series_id": "x", "period": mondays.strftime("%Y-%m-%d"), "count": counts}
    )
    # The same weeks labelled by other weekdays, with the zero-count weeks left out.
    sparse = dated[counts > 0].copy()
    sparse["period"] = (pd.to_datetime(sparse["period"]) + pd.Timedelta(days=3)).dt.strftime(
        "%Y-%m-%d"
    )
    _, full, _ = run(tmp_path, dated, method="ears_c1")
    _, gappy, _ = run(tmp_path, sparse, method="ears_c1")
    kept = full[counts > 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.drop(columns="period"), gappy.drop(columns="period"))
    assert list(gappy["period"]) == list(sparse["period"])


def test_start_keeps_rows_from_that_period_on(tmp_path: Path) -> None:
    _, out, _ = run(tmp_path, SERIES, method="ears_c2", start="350")
    assert (out["period"].astype(int) >= 350).all()
    assert len(out) == (SERIES["period"] >= 350).sum()
    dated = pd.DataFrame(
        {"series_id": "a", "period": ["2024-01-01", "2024-01-08", "2024-01-15"], "count": [1, 2, 3]}
    )
    _, out, _ = run(tmp_path, dated, method="ears_c1", start="2024-01-08")
    assert list(out["period"]) == ["2024-01-08", "2024-01-15"]


def test_daily_and_monthly_periods(tmp_path: Path) -> None:
    days = pd.DataFrame(
        {"series_id": "d", "period": pd.date_range("2024-01-01", periods=12).strftime("%Y-%m-%d"),
         "count": [3, 4, 2, 5, 3, 4, 3, 4, 2, 3, 4, 30]}
    )  # fmt: skip
    status, out, _ = run(tmp_path, days, method="ears_c1", freq="daily")
    assert status == 0 and out["alarm"].iloc[-1] == 1
    months = days.assign(
        period=pd.date_range("2020-01-15", periods=12, freq="MS").strftime("%Y-%m-%d")
    )
    status, out, _ = run(tmp_path, months, method="ears_c1", freq="month")
    assert status == 0 and out["alarm"].iloc[-1] == 1


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("series_id,period\na,1\n", {}, "lacks column(s) count"),
        ("series_id,period,count\na,1,3\na,2,-1\n", {}, "row 3: count '-1'"),
        ("series_id,period,count\na,1,3\na,2,2.5\n", {}, "row 3: count '2.5'"),
        ("series_id,period,count\na,1,3\na,2,\n", {}, "row 3: count ''"),
        ("series_id,period,count\na,1,3\na,2024-01-01,2\n", {}, "row 2: period '1'"),
        ("series_id,period,count\na,2024-01-01,3\na,2024-13-01,2\n", {}, "row 3: period"),
        ("series_id,period,count\na,2024-01-01,3\na,week 2,2\n", {}, "row 3: period 'week 2'"),
        ("series_id,period,count\na,1,3\nb,1,3\na,1,2\n", {}, "rows 2 and 4: series 'a'"),
        ("series_id,period,count\n,1,3\n", {}, "row 2: series_id is empty"),
        ("series_id,period,count\na,1,3\n", {"method": "magic"}, "unknown method 'magic'"),
        ("series_id,period,count\na,1,3\n", {"freq": "hourly"}, "unknown --freq"),
        ("series_id,period,count\na,1,3\n", {"start": "2024-01-01"}, "--start '2024-01-01'"),
        ("", {}, "is empty"),
        ("series_id,period,count\na,1,3\na,2\n", {}, "row 3: count ''"),
        ("series_id,period,count\na,1,99999999999999999999\n", {}, "row 2: count"),
        ("series_id,period,count\na,99999999999999999999,1\n", {}, "row 2: period"),
    ],
)
def test_bad_input_is_refused_with_the_row_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, options: dict, message: str
) -> None:
    status, _, text = run(tmp_path, content, **options)
    assert status == 2 and text == ""
    assert message in capsys.readouterr().err


def test_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = detect_series_command(tmp_path / "nope.csv", None, None, "week", io.StringIO())
    assert status == 2 and "nope.csv" in capsys.readouterr().err


def test_an_empty_file_with_a_header_gives_just_the_header(tmp_path: Path) -> None:
    status, _, text = run(tmp_path, "series_id,period,count\n")
    assert status == 0 and text == "series_id,period,expected,upper,alarm\n"


def test_tens_of_thousands_of_rows_in_seconds(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n_series, weeks = 1500, 20  # 30,000 rows, short histories (EARS)
    rows = pd.DataFrame(
        {
            "series_id": np.repeat([f"area{i}" for i in range(n_series)], weeks),
            "period": np.tile(np.arange(weeks), n_series),
            "count": rng.poisson(3, n_series * weeks),
        }
    )
    began = time.perf_counter()
    status, out, _ = run(tmp_path, rows)
    assert status == 0 and len(out) == 30_000
    assert time.perf_counter() - began < 10


@pytest.mark.slow
def test_long_histories_in_seconds(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    n_series, weeks = 30, 364  # ~11,000 rows, ~6,000 of them judged by Farrington
    rows = pd.DataFrame(
        {
            "series_id": np.repeat([f"s{i}" for i in range(n_series)], weeks),
            "period": np.tile(np.arange(weeks), n_series),
            "count": rng.poisson(6, n_series * weeks),
        }
    )
    began = time.perf_counter()
    status, out, _ = run(tmp_path, rows)
    assert status == 0 and out["alarm"].notna().sum() > 10_000
    assert time.perf_counter() - began < 30
