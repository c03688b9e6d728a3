"""Improved Farrington against golden outputs of R surveillance::farringtonFlexible.

Goldens: golden/make_farrington_golden.R (R surveillance 1.20.3) on golden/series.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.detector.ears import Judgement
from services.detector.farrington import (
    IMPROVED,
    FarringtonError,
    FarringtonSettings,
    _latest_bounds,
    farrington,
    farrington_latest,
)

GOLDEN = Path(__file__).parent / "golden"
RTOL = 1e-6

#: The control lists of make_farrington_golden.R, as settings.
CONFIGS = {
    "improved": FarringtonSettings(),
    "improved_b3": FarringtonSettings(b=3),
    "improved_alpha005": FarringtonSettings(alpha=0.005),
    "muan": FarringtonSettings(threshold_method="muan"),
    "original": FarringtonSettings(
        no_periods=1,
        weights_threshold=1.0,
        past_periods_not_included=3,
        p_threshold_trend=0.05,
        threshold_method="delta",
        powertrans="2/3",
    ),
}

SERIES = pd.read_csv(GOLDEN / "series.csv")
GOLDEN_ROWS = pd.read_csv(GOLDEN / "farrington_golden.csv")
CASES = list(GOLDEN_ROWS.groupby(["config", "series_id"], sort=False))


def _counts(series_id: str) -> np.ndarray:
    return SERIES.loc[SERIES["series_id"] == series_id, "count"].to_numpy()


@pytest.fixture(scope="module", params=CASES, ids=["-".join(key) for key, _ in CASES])
def case(request: pytest.FixtureRequest) -> tuple:
    (config, series_id), frame = request.param
    counts = _counts(series_id)
    at = frame["t"].to_numpy() - 1
    result = farrington(counts, CONFIGS[config])
    no_minimum = farrington(counts, _replace(CONFIGS[config], limit54=(0, 4)))
    return frame, at, result, no_minimum


def _replace(settings: FarringtonSettings, **changes) -> FarringtonSettings:
    return FarringtonSettings(**{**settings.__dict__, **changes})


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    keep = ~np.isnan(expected)
    np.testing.assert_allclose(actual[keep], expected[keep], rtol=RTOL, atol=1e-12)


def test_expected_and_upper_match_r(case) -> None:
    frame, at, result, _ = case
    _close(result.expected[at], frame["expected_all"].to_numpy(float))
    _close(result.upper[at], frame["upper_all"].to_numpy(float))


def test_alarms_match_r(case) -> None:
    frame, at, result, no_minimum = case
    assert np.array_equal(result.alarm[at], frame["alarm"].to_numpy(float), equal_nan=True)
    assert np.array_equal(no_minimum.alarm[at], frame["alarm_all"].to_numpy(float), equal_nan=True)


def test_minimum_count_rule_is_where_r_blanks_the_threshold(case) -> None:
    frame, at, result, _ = case
    assert np.array_equal(result.enough_cases[at] == 0, frame["upper"].isna().to_numpy())


def test_model_details_match_r(case) -> None:
    frame, at, result, _ = case
    assert np.array_equal(result.trend[at], frame["trend"].to_numpy(float), equal_nan=True)
    _close(result.phi[at], frame["phi"].to_numpy(float))
    _close(result.pvalue[at], frame["pvalue"].to_numpy(float))
    np.testing.assert_allclose(result.score[at], frame["score"], rtol=1e-5, atol=1e-9)


def test_golden_covers_the_interesting_cases() -> None:
    assert {"seasonal", "trending", "sparse", "outbreak"} <= set(GOLDEN_ROWS["series_id"])
    assert (GOLDEN_ROWS["alarm"] == 1).sum() > 20
    assert GOLDEN_ROWS["upper"].isna().sum() > 50  # minimum-count rule in force
    assert set(GOLDEN_ROWS["trend"]) == {0, 1}
    assert (GOLDEN_ROWS["phi"] > 1).any() and (GOLDEN_ROWS["phi"] == 1).any()


def test_not_enough_history_is_nan() -> None:
    counts = _counts("seasonal")
    settings = FarringtonSettings()
    result = farrington(counts, settings)
    assert settings.history == 52 * 5 + 3
    assert np.isnan(result.alarm[: settings.history]).all()
    assert np.isnan(result.expected[: settings.history]).all()
    assert not np.isnan(result.alarm[settings.history :]).any()
    assert farrington(counts[:100]).alarm.shape == (100,)
    assert np.isnan(farrington(counts[:100]).alarm).all()


def test_latest_agrees_with_the_whole_series() -> None:
    counts = _counts("outbreak")
    whole = farrington(counts)
    for t in (263, 300, 333, 356, 363):
        judgement = farrington_latest(counts[:t], counts[t])
        assert judgement.alarm == bool(whole.alarm[t])
        assert judgement.expected == pytest.approx(whole.expected[t], rel=1e-9)
        assert judgement.upper == whole.upper[t]
    assert farrington_latest(counts[:50], 3) == Judgement(None, None, None)


def test_latest_judges_each_new_count_against_the_kept_fit_as_the_whole_series_does() -> None:
    # Reports counted one by one in a series-period judge it again with one more case each time,
    # against the same history: the fit is kept, and every verdict stays the whole series'.
    counts = _counts("outbreak")
    for settings in (FarringtonSettings(), CONFIGS["original"], CONFIGS["muan"]):
        need = settings.history
        history = counts[40:40 + need]
        kept = _latest_bounds.cache_info().hits
        for current in (0, 1, 2, 5, 9, 30, 200):
            whole = farrington(np.append(history, current), settings, first=need)
            judgement = farrington_latest(history, current, settings)
            assert judgement.alarm == bool(whole.alarm[need]), (settings, current)
            assert judgement.expected == whole.expected[need]
            assert judgement.upper == whole.upper[need]
        assert _latest_bounds.cache_info().hits - kept >= 6  # fitted once for the seven counts
    # A different history is a different fit, not the kept one.
    changed = counts[40:40 + need].copy()
    changed[-30] += 20
    assert farrington_latest(changed, 9) != farrington_latest(counts[40:40 + need], 9)


def test_intercept_only_model_predicts_the_baseline_mean() -> None:
    # Without trend, seasonal factor or reweighting, the quasi-Poisson MLE is the mean of the
    # baseline counts: an independent check of the fit and of the baseline windows.
    counts = _counts("trending")
    settings = FarringtonSettings(
        no_periods=1, trend=False, reweight=False, past_periods_not_included=3
    )
    result = farrington(counts, settings)
    t = 300
    baseline = [counts[t - 52 * i + d] for i in range(1, 6) for d in range(-3, 4)]
    assert result.expected[t] == pytest.approx(np.mean(baseline), rel=1e-9)


def test_a_planted_outbreak_alarms() -> None:
    counts = _counts("seasonal").copy()
    quiet = farrington(counts).alarm[340]
    counts[340] += 40
    assert quiet == 0 and farrington(counts).alarm[340] == 1


@pytest.mark.parametrize("frequency", ["week", "day", "month"])
def test_improved_settings_exist_for_each_frequency(frequency: str) -> None:
    settings = IMPROVED[frequency]
    counts = np.random.default_rng(1).poisson(6, settings.history + 5)
    result = farrington(counts, settings)
    assert not np.isnan(result.expected[-5:]).any()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"threshold_method": "magic"}, "threshold_method"),
        ({"periods_per_year": 12}, "no_periods"),
        ({"limit54": (5, 0)}, "limit54"),
        ({"b": 0}, "b >= 1"),
    ],
)
def test_bad_settings_are_named(changes: dict, message: str) -> None:
    with pytest.raises(FarringtonError, match=message):
        FarringtonSettings(**changes)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(FarringtonError, match="non-negative"):
        farrington([1.0, -1.0, 2.0])
