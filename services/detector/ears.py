"""EARS C1, C2 and C3 aberration detection, numerically as R ``surveillance::earsC``.

The three methods compare a period's count with the mean and standard deviation of a short
baseline of earlier periods (Hutwagner et al. 2003; Fricker et al. 2008):

- **C1**: baseline = the ``baseline`` periods just before the current one;
- **C2**: the same, lagged by two periods (a guard band, so a rising outbreak does not inflate
  its own baseline);
- **C3**: the C2 baseline, plus the C2 statistics of the two previous periods
  (``max(0, C2 - 1)`` each), so that a sustained rise alarms sooner.

Upper bounds and alarms follow R ``surveillance`` 1.20.3 ``earsC`` line by line, including
what is arguably a quirk of that implementation: for C3, R defines

    upper_t = max(0, y_t + sd_t * (z - max(0, C2_{t-2} - 1) - max(0, C2_{t-1} - 1)))

(with the *observed* count ``y_t`` where the textbook would use the baseline mean), so the C3
alarm ``y_t > upper_t`` is raised exactly when ``y_t > 0`` and the two previous periods' C2
excesses sum to more than ``z``; the current period's own C2 does not enter. We keep R's
definition because this module is the numerical twin of R (golden tests pin it).

Other R behaviours kept on purpose:

- standard deviations use the ``n - 1`` denominator and are floored at ``min_sigma``;
- with ``min_sigma = 0`` a constant baseline has ``sd = 0``: C1/C2 then alarm on any count
  above the mean, and C3's z-scores become +-inf or NaN exactly as in R, giving an upper
  bound of 0 (``sd_t > 0``) or undetermined (``sd_t = 0``, NaN upper and alarm);
- ``alpha`` is ``0.001`` for all three methods (R's documented default; note that R switches
  C3 to ``0.025`` when a ``control`` list without ``alpha`` is passed).

"Not enough history" is NaN in every output array, never 0: a period needs ``baseline``
earlier periods for C1, ``baseline + 2`` for C2 and ``baseline + 4`` for C3.
(R evaluates only a ``range`` of periods and, for a C3 range of a single period, its ``sd``
of a one-row matrix degenerates to NA; here every period is judged on its own history, which
is what R gives for any range of two or more periods.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

EarsMethod = Literal["C1", "C2", "C3"]
EARS_METHODS: tuple[str, ...] = get_args(EarsMethod)

#: How many periods before the baseline window starts: C1 uses lags 1..b, C2 and C3 lags 3..b+2.
_GUARD = {"C1": 0, "C2": 2, "C3": 2}
#: Extra history C3 needs for the C2 statistics of the two previous periods.
_EXTRA = {"C1": 0, "C2": 0, "C3": 2}


class EarsError(ValueError):
    """Bad arguments to an EARS method."""


@dataclass(frozen=True)
class EarsResult:
    """Per-period output of :func:`ears`; every array has the length of the input series.

    Attributes:
        expected: baseline mean (NaN where there is not enough history).
        upper: alarm threshold; a count strictly above it alarms (NaN where undetermined).
        alarm: 1.0 alarm, 0.0 no alarm, NaN not enough history or undetermined.
        method: ``"C1"``, ``"C2"`` or ``"C3"``.
    """

    expected: np.ndarray
    upper: np.ndarray
    alarm: np.ndarray
    method: str


@dataclass(frozen=True)
class Judgement:
    """The verdict on one period: ``alarm`` is None when there is not enough history."""

    expected: float | None
    upper: float | None
    alarm: bool | None


def required_history(method: EarsMethod = "C2", *, baseline: int = 7) -> int:
    """Number of earlier periods a period needs before ``method`` can judge it."""
    _check(method, baseline, 0.001, 0.0)
    return baseline + _GUARD[method] + _EXTRA[method]


def ears(
    counts: np.ndarray | Sequence[float],
    method: EarsMethod = "C2",
    *,
    alpha: float = 0.001,
    baseline: int = 7,
    min_sigma: float = 0.0,
) -> EarsResult:
    """Run EARS ``method`` over a whole count series, judging every period on its past.

    Args:
        counts: counts per period, oldest first.
        method: ``"C1"``, ``"C2"`` or ``"C3"``.
        alpha: one-sided false-alarm probability; the threshold uses ``z = qnorm(1 - alpha)``.
        baseline: number of periods in the baseline window (at least 3).
        min_sigma: floor for the baseline standard deviation.

    Returns:
        An :class:`EarsResult` with arrays aligned to ``counts``.
    """
    _check(method, baseline, alpha, min_sigma)
    y = np.asarray(counts, dtype=float)
    if y.ndim != 1:
        raise EarsError(f"counts must be one-dimensional, got shape {y.shape}")
    n = y.size
    expected = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    alarm = np.full(n, np.nan)
    guard = _GUARD[method]
    first = baseline + guard + _EXTRA[method]  # first judgeable index (0-based)
    if n <= first:
        return EarsResult(expected, upper, alarm, method)

    z = norm.ppf(1.0 - alpha)
    # Window statistics for every index t >= baseline + guard: the window is y[t-guard-b : t-guard].
    windows = sliding_window_view(y[: n - 1 - guard], baseline)  # row k covers y[k : k+b]
    mean = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    mean[baseline + guard :] = windows.mean(axis=1)
    sigma[baseline + guard :] = np.maximum(windows.std(axis=1, ddof=1), min_sigma)

    judged = slice(first, n)
    expected[judged] = mean[judged]
    if method in ("C1", "C2"):
        upper[judged] = mean[judged] + z * sigma[judged]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            c2 = (y - mean) / sigma
            excess = np.maximum(0.0, c2 - 1.0)  # NaN propagates, as R's pmax does
            lag_excess = excess[first - 2 : n - 2] + excess[first - 1 : n - 1]
            raw = y[judged] + sigma[judged] * (z - lag_excess)
        upper[judged] = np.maximum(0.0, raw)
    with np.errstate(invalid="ignore"):
        decided = ~np.isnan(upper[judged]) & ~np.isnan(y[judged])
        alarm[judged] = np.where(decided, (y[judged] > upper[judged]).astype(float), np.nan)
    return EarsResult(expected, upper, alarm, method)


def ears_latest(
    history: Sequence[float] | np.ndarray,
    current: float,
    method: EarsMethod = "C2",
    *,
    alpha: float = 0.001,
    baseline: int = 7,
    min_sigma: float = 0.0,
) -> Judgement:
    """Judge only the latest period: ``current`` against the ``history`` before it (oldest first).

    Cheap enough to call per event: it looks at no more than the last
    :func:`required_history` values of ``history``.
    """
    need = required_history(method, baseline=baseline)
    tail = np.asarray(history, dtype=float)[-need:] if need else np.empty(0)
    if tail.size < need:
        return Judgement(None, None, None)
    series = np.append(tail, float(current))
    result = ears(series, method, alpha=alpha, baseline=baseline, min_sigma=min_sigma)
    return Judgement(
        expected=_or_none(result.expected[-1]),
        upper=_or_none(result.upper[-1]),
        alarm=None if np.isnan(result.alarm[-1]) else bool(result.alarm[-1]),
    )


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _check(method: str, baseline: int, alpha: float, min_sigma: float) -> None:
    if method not in EARS_METHODS:
        raise EarsError(f"method must be one of {', '.join(EARS_METHODS)}, got {method!r}")
    if int(baseline) != baseline or baseline < 3:
        raise EarsError(f"baseline must be an integer of at least 3 (as in R), got {baseline!r}")
    if not 0.0 < alpha < 1.0:
        raise EarsError(f"alpha must be between 0 and 1, got {alpha!r}")
    if min_sigma < 0:
        raise EarsError(f"min_sigma must not be negative, got {min_sigma!r}")
