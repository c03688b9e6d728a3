"""``ews detect series``: judge every row of a CSV of count series prospectively.

Input: CSV with columns ``series_id,period,count`` (extra columns are ignored). ``period`` is
an integer index or an ISO date (``YYYY-MM-DD``), the same kind throughout the file; ``count``
a non-negative integer. Rows may come in any order; a series' periods must be distinct.
Periods missing between a series' first and last row count as 0 (no reports that period); they
are used as history but not printed. With dates and weekly data, a date stands for the
Monday-to-Sunday week containing it.

Output: CSV ``series_id,period,expected,upper,alarm``, one row per input row (in input order)
from ``--start`` on, judged on the earlier periods of its series only. ``alarm`` is ``1``, ``0``,
or empty when there is not enough history (then ``expected`` and ``upper`` are empty too).
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import pandas as pd

from services.detector.ears import EarsMethod, ears
from services.detector.farrington import IMPROVED, FarringtonResult, farrington

Frequency = Literal["week", "day", "month"]

#: Accepted spellings of ``--freq``.
FREQUENCIES: dict[str, Frequency] = {
    "week": "week", "weekly": "week", "w": "week",
    "day": "day", "daily": "day", "d": "day",
    "month": "month", "monthly": "month", "m": "month",
}  # fmt: skip

COLUMNS = ("series_id", "period", "count")
OUTPUT_HEADER = ("series_id", "period", "expected", "upper", "alarm")

#: Farrington is used by ``auto`` with as many years of baseline as a period has, up to 5,
#: from this many on (3 is the least with which R allows a time trend).
AUTO_MIN_YEARS = 3
_MAX_SPAN = 5_000_000  # periods in one series, gaps included
_INTEGER = re.compile(r"^[+-]?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SeriesInputError(ValueError):
    """The input file or the options are unusable; the message names the row or option."""


@dataclass(frozen=True)
class Verdicts:
    """Per-period output of a method: arrays aligned to the series (NaN = no verdict)."""

    expected: np.ndarray
    upper: np.ndarray
    alarm: np.ndarray


@dataclass(frozen=True)
class Method:
    """A detection method runnable over one gap-free count series."""

    name: str
    summary: str
    run: Callable[[np.ndarray, Frequency], Verdicts]


def _ears(method: EarsMethod) -> Callable[[np.ndarray, Frequency], Verdicts]:
    def run(counts: np.ndarray, freq: Frequency) -> Verdicts:
        result = ears(counts, method)
        return Verdicts(result.expected, result.upper, result.alarm)

    return run


def _farrington(counts: np.ndarray, freq: Frequency) -> Verdicts:
    result = farrington(counts, IMPROVED[freq])
    return Verdicts(result.expected, result.upper, result.alarm)


def _auto(counts: np.ndarray, freq: Frequency) -> Verdicts:
    """Farrington with the longest baseline available (3-5 years), else EARS C2."""
    improved = IMPROVED[freq]
    verdicts = _ears("C2")(counts, freq)
    expected, upper, alarm = (a.copy() for a in (verdicts.expected, verdicts.upper, verdicts.alarm))
    year = improved.periods_per_year
    for years in range(AUTO_MIN_YEARS, improved.b + 1):
        settings = replace(improved, b=years)
        first = settings.history
        stop = None if years == improved.b else settings.history + year
        if first >= counts.size:
            break
        result: FarringtonResult = farrington(counts, settings, first=first, stop=stop)
        fitted = ~np.isnan(result.alarm)  # where the model cannot be fitted, C2 stands
        expected[fitted], upper[fitted], alarm[fitted] = (
            result.expected[fitted],
            result.upper[fitted],
            result.alarm[fitted],
        )
    return Verdicts(expected, upper, alarm)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "auto",
            "the default: improved Farrington with 3-5 years of baseline where a period has "
            "them, EARS C2 before that",
            _auto,
        ),
        Method(
            "farrington",
            "improved Farrington (Noufaily et al. 2013; R farringtonFlexible), 5 years of baseline",
            _farrington,
        ),
        Method("ears_c1", "EARS C1: mean + 3.09 sd of the previous 7 periods", _ears("C1")),
        Method("ears_c2", "EARS C2: as C1 with a 2-period guard band", _ears("C2")),
        Method(
            "ears_c3",
            "EARS C3 as in R earsC (alarms on the C2 excess of the two previous periods)",
            _ears("C3"),
        ),
    )
}
DEFAULT_METHOD = "auto"


def detect_series_command(
    input_path: str | Path,
    method: str | None,
    start: str | None,
    freq: str,
    out: TextIO,
) -> int:
    """Run ``ews detect series``: read ``input_path`` (``-``: standard input), write CSV to ``out``.

    Returns:
        0 on success; 2 when the input or an option is unusable (the reason on stderr).
    """
    try:
        rows = read_series_csv(input_path)
        verdicts = detect_series(rows, method=method, start=start, freq=freq)
    except SeriesInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_verdicts(verdicts, out)
    return 0


def read_series_csv(input_path: str | Path) -> pd.DataFrame:
    """Read the ``series_id,period,count`` CSV as strings, checking the header."""
    source = sys.stdin if str(input_path) == "-" else input_path
    try:
        frame = pd.read_csv(
            source, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"
        ).fillna("")  # a row with too few fields: the missing ones are empty
    except FileNotFoundError:
        raise SeriesInputError(f"cannot read {input_path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise SeriesInputError(f"cannot read {input_path} as CSV: {error}") from None
    except pd.errors.EmptyDataError:
        raise SeriesInputError(f"{input_path} is empty: expected a header {','.join(COLUMNS)}")
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SeriesInputError(
            f"{input_path} lacks column(s) {', '.join(missing)}: the header must name "
            f"{','.join(COLUMNS)} (found {','.join(frame.columns)})"
        )
    return frame[list(COLUMNS)]


def detect_series(
    rows: pd.DataFrame, *, method: str | None = None, start: str | None = None, freq: str = "week"
) -> pd.DataFrame:
    """Judge each row of ``rows`` (string columns series_id, period, count) on its past.

    Returns:
        A frame with columns series_id, period (as given), expected, upper (floats, NaN when
        there is no verdict) and alarm (1.0 / 0.0 / NaN), in input order, from ``start`` on.
    """
    chosen = METHODS.get(method or DEFAULT_METHOD)
    if chosen is None:
        raise SeriesInputError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    frequency = FREQUENCIES.get(freq.strip().lower())
    if frequency is None:
        raise SeriesInputError(f"unknown --freq {freq!r}; use week, day or month")

    series_id = rows["series_id"].astype(str).str.strip().to_numpy()
    counts = _parse_counts(rows["count"])
    periods, kind = _parse_periods(rows["period"], frequency)
    blank = np.flatnonzero(series_id == "")
    if blank.size:
        raise SeriesInputError(f"row {_line(blank[0])}: series_id is empty")

    n = len(rows)
    expected, upper, alarm = (np.full(n, np.nan) for _ in range(3))
    order = np.lexsort((periods, series_id))
    sorted_ids, sorted_periods = series_id[order], periods[order]
    repeat = np.flatnonzero((sorted_ids[1:] == sorted_ids[:-1]) & (np.diff(sorted_periods) == 0))
    if repeat.size:
        a, b = sorted(order[repeat[0] : repeat[0] + 2])
        raise SeriesInputError(
            f"rows {_line(a)} and {_line(b)}: series {series_id[a]!r} has period "
            f"{rows['period'].iloc[a]!r} twice"
        )
    bounds = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    for members in np.split(order, bounds) if n else []:
        offset = periods[members] - periods[members[0]]
        span = int(offset[-1]) + 1
        if span > _MAX_SPAN:
            raise SeriesInputError(
                f"series {series_id[members[0]]!r} spans {span} periods between rows "
                f"{_line(members[0])} and {_line(members[-1])}; is --freq right?"
            )
        filled = np.zeros(span)
        filled[offset] = counts[members]
        verdicts = chosen.run(filled, frequency)
        expected[members] = verdicts.expected[offset]
        upper[members] = verdicts.upper[offset]
        alarm[members] = verdicts.alarm[offset]

    result = pd.DataFrame(
        {
            "series_id": series_id,
            "period": rows["period"].astype(str).str.strip().to_numpy(),
            "expected": expected,
            "upper": upper,
            "alarm": alarm,
        }
    )
    if start is not None:
        result = result[periods >= _parse_start(start, kind, frequency)]
    return result.reset_index(drop=True)


def write_verdicts(verdicts: pd.DataFrame, out: TextIO) -> None:
    """Write verdicts as CSV; expected/upper/alarm are empty where there is no verdict."""
    undecided = verdicts["alarm"].isna().to_numpy()
    columns = {
        "series_id": verdicts["series_id"],
        "period": verdicts["period"],
        "expected": _numbers(verdicts["expected"], undecided),
        "upper": _numbers(verdicts["upper"], undecided),
        "alarm": np.where(undecided, "", np.where(verdicts["alarm"] == 1, "1", "0")),
    }
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_HEADER)
    writer.writerows(zip(*(list(c) for c in columns.values()), strict=True))


def _numbers(values: pd.Series, undecided: np.ndarray) -> list[str]:
    return ["" if skip or np.isnan(v) else f"{v:.10g}" for v, skip in zip(values, undecided)]


def _line(index: int) -> int:
    """File line of the 0-based data row ``index`` (the header is line 1)."""
    return int(index) + 2


def _parse_counts(column: pd.Series) -> np.ndarray:
    text = column.astype(str).str.strip()
    bad = ~text.str.fullmatch(r"\+?\d+")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SeriesInputError(
            f"row {_line(i)}: count {column.iloc[i]!r} is not a non-negative integer"
        )
    try:
        return text.astype(np.int64).to_numpy().astype(float)
    except (OverflowError, ValueError):
        i = int(np.argmax(text.str.len().to_numpy()))
        raise SeriesInputError(f"row {_line(i)}: count {column.iloc[i]!r} is too large") from None


def _parse_periods(column: pd.Series, freq: Frequency) -> tuple[np.ndarray, str]:
    """Period labels as integer indices (consecutive periods differ by 1) and their kind."""
    text = column.astype(str).str.strip()
    if len(text) == 0 or text.str.fullmatch(_INTEGER.pattern).all():
        try:
            return text.astype(np.int64).to_numpy(), "integer"
        except (OverflowError, ValueError):
            i = int(np.argmax(text.str.len().to_numpy()))
            raise SeriesInputError(
                f"row {_line(i)}: period {column.iloc[i]!r} is too large"
            ) from None
    is_date = text.str.fullmatch(_ISO_DATE.pattern)
    if not is_date.iloc[0] or not is_date.all():
        i = int(np.flatnonzero(~is_date.to_numpy())[0]) if is_date.iloc[0] else 0
        raise SeriesInputError(
            f"row {_line(i)}: period {column.iloc[i]!r} is neither an integer nor an ISO "
            "date (YYYY-MM-DD), or the file mixes the two"
        )
    dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise SeriesInputError(f"row {_line(i)}: period {column.iloc[i]!r} is not a valid date")
    return _date_index(dates, freq), "date"


def _date_index(dates: pd.Series | pd.DatetimeIndex, freq: Frequency) -> np.ndarray:
    days = (pd.DatetimeIndex(dates) - pd.Timestamp("1970-01-05")).days.to_numpy()  # a Monday
    if freq == "day":
        return days.astype(np.int64)
    if freq == "week":
        return np.floor_divide(days, 7).astype(np.int64)
    index = pd.DatetimeIndex(dates)
    return (index.year * 12 + index.month - 1).to_numpy().astype(np.int64)


def _parse_start(start: str, kind: str, freq: Frequency) -> int:
    text = start.strip()
    if kind == "integer" and _INTEGER.match(text):
        return int(text)
    if kind == "date" and _ISO_DATE.match(text):
        parsed = pd.to_datetime(pd.Series([text]), format="%Y-%m-%d", errors="coerce")
        if not parsed.isna().any():
            return int(_date_index(parsed, freq)[0])
    wanted = "an integer period" if kind == "integer" else "an ISO date (YYYY-MM-DD)"
    raise SeriesInputError(f"--start {start!r} must be {wanted}, like the file's periods")
