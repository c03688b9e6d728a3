"""EARS C1-C3 against golden outputs of R surveillance::earsC (golden/make_ears_golden.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.detector.ears import EarsError, Judgement, ears, ears_latest, required_history

GOLDEN = Path(__file__).parent / "golden"
RTOL = 1e-6


def _golden_cases() -> list[tuple[tuple, pd.DataFrame]]:
    golden = pd.read_csv(GOLDEN / "ears_golden.csv")
    keys = ["series_id", "method", "alpha", "baseline", "min_sigma"]
    return [(key, frame.sort_values("t")) for key, frame in golden.groupby(keys, sort=True)]


CASES = _golden_cases()


def _assert_close_with_nans(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{what}: NaN positions differ"
    both = ~np.isnan(expected)
    np.testing.assert_allclose(actual[both], expected[both], rtol=RTOL, atol=1e-12, err_msg=what)


@pytest.mark.parametrize(("key", "frame"), CASES, ids=["-".join(map(str, k)) for k, _ in CASES])
def test_matches_r_earsc(key: tuple, frame: pd.DataFrame) -> None:
    _series_id, method, alpha, baseline, min_sigma = key
    result = ears(
        frame["count"].to_numpy(),
        method,
        alpha=alpha,
        baseline=int(baseline),
        min_sigma=min_sigma,
    )
    _assert_close_with_nans(result.upper, frame["upper"].to_numpy(float), "upper")
    # R has no expected value for the first periods; it is the baseline mean wherever R judged.
    judged = ~frame["upper"].isna().to_numpy() | ~frame["expected"].isna().to_numpy()
    _assert_close_with_nans(
        result.expected[judged], frame["expected"].to_numpy(float)[judged], "expected"
    )
    assert np.array_equal(result.alarm, frame["alarm"].to_numpy(float), equal_nan=True)


def test_golden_covers_every_method_and_the_hard_cases() -> None:
    golden = pd.read_csv(GOLDEN / "ears_golden.csv")
    assert set(golden["method"]) == {"C1", "C2", "C3"}
    assert {"seasonal", "trending", "sparse", "outbreak", "flat", "short"} <= set(
        golden["series_id"]
    )
    assert (golden["alarm"] == 1).sum() > 10
    # Undetermined C3 verdicts inside R's range (sd = 0 baselines) are pinned too.
    c3 = golden[(golden["method"] == "C3") & golden["expected"].notna()]
    assert c3["alarm"].isna().any()


def test_not_enough_history_is_nan_not_zero() -> None:
    counts = np.arange(20)
    for method, need in (("C1", 7), ("C2", 9), ("C3", 11)):
        result = ears(counts, method)
        assert np.isnan(result.alarm[:need]).all()
        assert np.isnan(result.expected[:need]).all() and np.isnan(result.upper[:need]).all()
        assert not np.isnan(result.alarm[need:]).any()
        assert required_history(method) == need


def test_too_short_series_gives_only_nans() -> None:
    result = ears([1, 2, 3], "C1")
    assert result.alarm.shape == (3,) and np.isnan(result.alarm).all()


@pytest.mark.parametrize("method", ["C1", "C2", "C3"])
def test_latest_agrees_with_the_whole_series(method: str) -> None:
    frame = next(f for k, f in CASES if k[:2] == ("outbreak", method) and k[3] == 7)
    counts = frame["count"].to_numpy()
    whole = ears(counts, method)
    for t in range(len(counts)):
        judgement = ears_latest(counts[:t], counts[t], method)
        if np.isnan(whole.alarm[t]):
            assert judgement.alarm is None
        else:
            assert judgement.alarm == bool(whole.alarm[t])
            assert judgement.upper == pytest.approx(whole.upper[t], rel=1e-12)
        if not np.isnan(whole.expected[t]):
            assert judgement.expected == pytest.approx(whole.expected[t], rel=1e-12)


def test_latest_with_short_history_is_undecided() -> None:
    assert ears_latest([1, 2, 3], 40, "C2") == Judgement(None, None, None)


def test_c2_flags_a_clear_spike() -> None:
    counts = [4, 5, 3, 4, 6, 5, 4, 5, 4, 5, 30]
    assert ears_latest(counts[:-1], counts[-1], "C2").alarm is True
    assert ears_latest(counts[:-1], 5, "C2").alarm is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "C4"}, "method"),
        ({"baseline": 2}, "baseline"),
        ({"alpha": 1.5}, "alpha"),
        ({"min_sigma": -1.0}, "min_sigma"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(EarsError, match=message):
        ears(np.arange(30), **kwargs)
