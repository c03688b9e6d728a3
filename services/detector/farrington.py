"""The improved Farrington method (Noufaily et al. 2013), numerically as R ``farringtonFlexible``.

For each period ``t`` a quasi-Poisson GLM (log link) is fitted to the same period of the
``b`` previous years and everything in between, and the period's count is compared with an
upper quantile of the predictive distribution:

1. **baseline**: the ``b`` years before ``t``; periods within ``w`` of ``t``'s position in
   each past year (and ``t - w .. t``) form one level of a ``no_periods``-level seasonal
   factor, the rest of each year is cut into ``no_periods - 1`` blocks of (nearly) equal
   length; the latest ``past_periods_not_included`` periods (and ``t``) are left out so that a
   recent outbreak does not mask itself;
2. **fit** ``log mu = alpha + beta * time + gamma[season]``; if IRLS does not converge with the
   time trend, drop it; if it still does not converge, there is no verdict (NaN);
3. **down-weight past outbreaks**: periods whose Anscombe residual exceeds
   ``weights_threshold`` get weight ``gamma / s**2``, then refit; ``phi = max(dispersion, 1)``;
4. **trend**: kept only if ``b >= 3``, its p-value is below ``p_threshold_trend`` and the
   prediction does not extrapolate beyond the largest baseline count; otherwise steps 2-3 are
   redone without it;
5. **threshold**: ``"nbPlugin"``, the ``1 - alpha`` quantile of a negative binomial with mean
   ``mu0 = exp(eta0)`` and variance ``phi * mu0`` (Poisson when ``phi = 1``); ``"muan"`` plugs
   in the ``1 - alpha`` quantile of ``mu0``'s asymptotic distribution instead; ``"delta"`` is
   Farrington et al. (1996)'s power-transformed normal limit;
6. **alarm** when the count exceeds the threshold (exceedance score above 1), is not zero, and
   at least ``limit54[0]`` cases were counted in the last ``limit54[1]`` periods (the current
   one included).

The GLM is fitted by a numpy port of R's ``glm.fit`` IRLS (same start ``mu = y + 0.1``, the
same ``mu >= machine epsilon`` floor, the same relative-deviance stopping rule with
``epsilon = 1e-8`` and ``maxit = 25``, the same use of the last iteration's weights for the
dispersion, hat values and covariance), batched over all periods of a series. Following R this
closely is what makes sparse series agree with R: when a seasonal level holds only zeros its
coefficient never converges in value, and the reported ``expected`` is wherever the iterations
stop. Batching is what makes the method fast enough for tens of thousands of periods.

Where this differs from R on purpose:

- ``expected`` and ``upper`` are reported for every period that could be fitted; R blanks them
  when the minimum-count rule applies (see :attr:`FarringtonResult.enough_cases`). The alarm is
  then 0, as in R.
- a period whose model cannot be fitted, or whose threshold is undefined, has a NaN alarm
  (R: ``NA`` when the fit fails, but ``FALSE`` when the threshold is infinite).
- periods are integer positions, ``periods_per_year`` apart from one year to the next (R's
  ``sts`` with ``epochAsDate = FALSE``); R's date mode, which looks for the same weekday
  closest to a calendar year back (sometimes 53 weeks), is not reproduced.
- seasonal blocks of zero length (possible in R for few periods per year, where R's ``a:b``
  then runs backwards) are refused with an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import stats

from services.detector.ears import Judgement

ThresholdMethod = Literal["nbPlugin", "muan", "delta"]
PowerTransform = Literal["2/3", "1/2", "none"]

_EPS = np.finfo(float).eps  # R's .Machine$double.eps: floor of exp(eta) in the log link
_MAXIT = 25  # glm.control(): maxit
_EPSILON = 1e-8  # glm.control(): epsilon
_CHUNK = 512  # periods fitted together; bounds memory to a few tens of MB


class FarringtonError(ValueError):
    """Bad settings or input for the Farrington method."""


@dataclass(frozen=True)
class FarringtonSettings:
    """Settings of :func:`farrington`; the defaults are the improved method for weekly data.

    Attributes:
        b: years of history in the baseline.
        w: half-width (in periods) of the window around the same period in past years.
        periods_per_year: 52 for weekly data (R's ``sts`` frequency).
        no_periods: levels of the seasonal factor (1: baseline windows only, as in 1996).
        past_periods_not_included: latest periods left out of the baseline.
        reweight: down-weight past outbreaks.
        weights_threshold: Anscombe-residual threshold for down-weighting.
        trend: allow a linear time trend.
        p_threshold_trend: keep the trend only if its p-value is below this (1: always).
        alpha: one-sided level of the upper threshold.
        threshold_method: ``"nbPlugin"``, ``"muan"`` or ``"delta"``.
        powertrans: power transformation of the ``"delta"`` method.
        limit54: ``(cases, periods)``: no alarm with fewer cases in the last periods.
    """

    b: int = 5
    w: int = 3
    periods_per_year: int = 52
    no_periods: int = 10
    past_periods_not_included: int = 26
    reweight: bool = True
    weights_threshold: float = 2.58
    trend: bool = True
    p_threshold_trend: float = 1.0
    alpha: float = 0.05
    threshold_method: ThresholdMethod = "nbPlugin"
    powertrans: PowerTransform = "2/3"
    limit54: tuple[int, int] = (5, 4)

    def __post_init__(self) -> None:
        if self.b < 1 or self.w < 0 or self.periods_per_year < 2 * self.w + 2:
            raise FarringtonError(
                f"need b >= 1, w >= 0 and periods_per_year > 2w + 1 "
                f"(got b={self.b}, w={self.w}, periods_per_year={self.periods_per_year})"
            )
        if self.no_periods < 1:
            raise FarringtonError(f"no_periods must be at least 1, got {self.no_periods}")
        gap = self.periods_per_year - 2 * self.w - 1
        if self.no_periods > 1 and gap < self.no_periods - 1:
            raise FarringtonError(
                f"no_periods={self.no_periods} leaves seasonal blocks empty: at most "
                f"{gap + 1} levels fit in {self.periods_per_year} periods a year with w={self.w}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise FarringtonError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.threshold_method not in ("nbPlugin", "muan", "delta"):
            raise FarringtonError(
                f"threshold_method must be nbPlugin, muan or delta, got {self.threshold_method!r}"
            )
        if self.powertrans not in ("2/3", "1/2", "none"):
            raise FarringtonError(f"powertrans must be 2/3, 1/2 or none, got {self.powertrans!r}")
        if self.limit54[0] < 0 or self.limit54[1] < 1:
            raise FarringtonError(f"limit54 needs cases >= 0 and periods > 0, got {self.limit54}")

    @property
    def history(self) -> int:
        """Earlier periods a period needs before it can be judged (R's first ``range`` - 1)."""
        return self.periods_per_year * self.b + self.w


#: Improved-method settings per data frequency. Weekly is Noufaily et al. (2013) as documented
#: by R surveillance; daily and monthly keep its proportions (half a year left out of the
#: baseline, blocks of about five weeks) and are not part of the published method.
IMPROVED = {
    "week": FarringtonSettings(),
    "day": FarringtonSettings(periods_per_year=365, past_periods_not_included=182),
    "month": FarringtonSettings(
        periods_per_year=12, w=1, no_periods=4, past_periods_not_included=6
    ),
}


@dataclass(frozen=True)
class FarringtonResult:
    """Per-period output of :func:`farrington`; arrays aligned to the input counts.

    Attributes:
        expected: expected count ``mu0`` (NaN: not enough history or no fit).
        upper: threshold; a count strictly above it (and not 0) alarms.
        alarm: 1.0 alarm, 0.0 no alarm, NaN not enough history / model could not be fitted.
        enough_cases: 1.0 when the minimum-count rule (``limit54``) allows an alarm, else 0.0;
            NaN where there is no verdict.
        score: exceedance score as R computes it (alarm when above 1).
        pvalue: probability of a count at least as large as the observed one.
        phi: overdispersion of the final fit (at least 1).
        trend: 1.0 when the time trend was kept, 0.0 when not.
    """

    expected: np.ndarray
    upper: np.ndarray
    alarm: np.ndarray
    enough_cases: np.ndarray
    score: np.ndarray
    pvalue: np.ndarray
    phi: np.ndarray
    trend: np.ndarray


def farrington(
    counts: np.ndarray | Sequence[float],
    settings: FarringtonSettings = FarringtonSettings(),
    *,
    first: int | None = None,
    stop: int | None = None,
) -> FarringtonResult:
    """Run the Farrington method over a count series, judging each period on its past only.

    Args:
        counts: non-negative counts per period, oldest first, no gaps.
        settings: method settings; the default is the improved method for weekly data.
        first: judge only periods from this 0-based index on (others are NaN).
        stop: judge only periods before this 0-based index (others are NaN).

    Returns:
        A :class:`FarringtonResult`; periods with fewer than ``settings.history`` earlier
        periods are NaN throughout.
    """
    y = _checked(np.asarray(counts, dtype=float))
    n = y.size
    out = {name: np.full(n, np.nan) for name in FarringtonResult.__dataclass_fields__}
    start = max(settings.history, first or 0)
    end = n if stop is None else min(stop, n)
    if start < end:
        layout = _Layout.of(settings)
        for lo in range(start, end, _CHUNK):
            periods = np.arange(lo, min(lo + _CHUNK, end))
            fitted = _fit_periods(y, periods, layout, settings)
            for name, values in _verdicts(y, periods, fitted, settings).items():
                out[name][periods] = values
    return FarringtonResult(**out)


def farrington_latest(
    history: Sequence[float] | np.ndarray,
    current: float,
    settings: FarringtonSettings = FarringtonSettings(),
) -> Judgement:
    """Judge only the latest period: ``current`` against the ``history`` before it (oldest first).

    The same as the last period of :func:`farrington` over ``history + [current]``. The fit and
    the threshold depend on the history alone, and are kept for the latest histories judged:
    each report counted in a series-period judges it again, against the same history, with one
    more case.
    """
    need = settings.history
    tail = np.asarray(history, dtype=float)[-need:]
    if tail.size < need:
        return Judgement(None, None, None)
    y = _checked(np.append(tail, float(current)))
    expected, upper, centre = _latest_bounds(settings, y[:-1].tobytes())
    alarm = _alarms(y, np.array([need]), upper, centre, settings)[0]
    if np.isnan(alarm[0]):
        return Judgement(None, None, None)
    return Judgement(float(expected[0]), float(upper[0]), bool(alarm[0]))


# Some 10 MB at most: a key is the history's bytes (8 per period, 263 weekly periods).
@lru_cache(maxsize=4096)
def _latest_bounds(settings: FarringtonSettings, history: bytes
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_bounds` of the period after `history` (its own count takes no part)."""
    y = np.append(np.frombuffer(history), 0.0)
    eta0, se_eta0, phi, _ = _fit_periods(y, np.array([y.size - 1]), _Layout.of(settings),
                                         settings)
    bounds = _bounds(eta0, se_eta0, phi, settings)
    for values in bounds:
        values.flags.writeable = False  # shared by every later call with this history
    return bounds


def _checked(y: np.ndarray) -> np.ndarray:
    if y.ndim != 1:
        raise FarringtonError(f"counts must be one-dimensional, got shape {y.shape}")
    if np.isnan(y).any() or (y < 0).any():
        raise FarringtonError("counts must be non-negative numbers without gaps (NaN)")
    return y


@dataclass(frozen=True)
class _Layout:
    """Which earlier periods form the baseline of a period, and their seasonal level.

    ``offsets[i]`` periods back from the judged period, with seasonal level ``levels[i]``; in
    increasing time order, as R builds its data frame.
    """

    offsets: np.ndarray
    levels: np.ndarray

    @classmethod
    def of(cls, s: FarringtonSettings) -> _Layout:
        # Mirrors R's blocks(): level[d] for the period d steps back; 0 = not in any block.
        p, w, year = s.no_periods, s.w, s.periods_per_year
        level = np.zeros(s.history + 1, dtype=int)
        level[: w + 1] = p
        gap = year - 2 * w - 1
        lengths = [gap // (p - 1) + (j < gap % (p - 1)) for j in range(p - 1)] if p > 1 else []
        for i in range(1, s.b + 1):
            ref = year * i
            level[ref - w : ref + w + 1] = p
            newest = ref - w - 1  # blocks run from just after the window towards the present
            for j, length in enumerate(lengths, start=1):
                level[newest - length + 1 : newest + 1] = j
                newest -= length
        level[: s.past_periods_not_included + 1] = 0
        offsets = np.flatnonzero(level)[::-1]
        return cls(offsets=offsets, levels=level[offsets])


@dataclass
class _Fit:
    beta: np.ndarray  # (T, q)
    mu: np.ndarray  # (T, m) fitted values, floored at machine epsilon
    dispersion: np.ndarray  # (T,) Pearson estimate, as summary.glm
    residuals: np.ndarray  # (T, m) working residuals (y - mu) / mu.eta
    cov_unscaled: np.ndarray  # (T, q, q)
    hat: np.ndarray  # (T, m)
    converged: np.ndarray  # (T,)


def _glm(x: np.ndarray, y: np.ndarray, prior: np.ndarray) -> _Fit:
    """Quasi-Poisson log-link IRLS for a batch of problems, step for step as R's glm.fit."""
    t_count, m, q = x.shape
    mu = y + 0.1
    eta = np.log(mu)
    dev_old = _deviance(y, mu, prior)
    beta = np.full((t_count, q), np.nan)
    r_last = np.full((t_count, q, q), np.nan)
    hat = np.full((t_count, m), np.nan)
    weights = np.full((t_count, m), np.nan)
    converged = np.zeros(t_count, dtype=bool)
    active = np.arange(t_count)
    for _ in range(_MAXIT):
        mu_eta = np.maximum(np.exp(eta[active]), _EPS)
        z = eta[active] + (y[active] - mu[active]) / mu_eta
        w = np.sqrt(prior[active] * mu_eta**2 / mu[active])
        xa = x[active]
        qmat, rmat = np.linalg.qr(xa * w[..., None])
        coef = np.linalg.solve(rmat, np.einsum("tmq,tm->tq", qmat, z * w)[..., None])[..., 0]
        eta[active] = np.einsum("tmq,tq->tm", xa, coef)
        mu[active] = np.maximum(np.exp(eta[active]), _EPS)
        dev = _deviance(y[active], mu[active], prior[active])
        beta[active], r_last[active] = coef, rmat
        hat[active], weights[active] = np.sum(qmat**2, axis=2), w**2
        done = np.abs(dev - dev_old[active]) / (np.abs(dev) + 0.1) < _EPSILON
        converged[active[done]] = True
        dev_old[active] = dev
        active = active[~done]
        if active.size == 0:
            break
    # summary.glm: working weights of the last iteration times squared working residuals.
    residuals = (y - mu) / np.maximum(np.exp(eta), _EPS)
    dispersion = np.sum(weights * residuals**2, axis=1) / (m - q)
    r_inv = np.linalg.inv(r_last)
    cov_unscaled = r_inv @ np.swapaxes(r_inv, 1, 2)
    hat = np.where(hat > 1 - 10 * _EPS, 1.0, hat)
    return _Fit(beta, mu, dispersion, residuals, cov_unscaled, hat, converged)


def _deviance(y: np.ndarray, mu: np.ndarray, prior: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(y / mu), 0.0)
    return 2.0 * np.sum(prior * (ylogy - (y - mu)), axis=1)


def _fit_with_reweighting(
    x: np.ndarray, y: np.ndarray, s: FarringtonSettings
) -> tuple[_Fit, np.ndarray, np.ndarray]:
    """R's algo.farrington.fitGLM.flexible for one formula: returns (fit, phi, usable).

    As in R, the returned fit's ``dispersion`` (used for the trend's p-value and the standard
    error of the prediction) is computed after R replaces the model's working weights by the
    outbreak weights ``omega``: ``sum(omega * residual**2) / df``, while ``phi`` is the
    ordinary Pearson estimate of the reweighted fit, floored at 1.
    """
    fit = _glm(x, y, np.ones_like(y))
    usable = fit.converged
    phi = np.maximum(fit.dispersion, 1.0)
    if s.reweight:
        with np.errstate(divide="ignore", invalid="ignore"):
            anscombe = 1.5 * (y ** (2 / 3) * fit.mu ** (-1 / 6) - fit.mu**0.5)
            anscombe /= np.sqrt(phi[:, None] * (1 - fit.hat))
            outlier = anscombe > s.weights_threshold
            inverse_sq = np.where(outlier, anscombe**-2.0, 1.0)
            gamma = y.shape[1] / np.sum(inverse_sq, axis=1)
            omega = gamma[:, None] * inverse_sq
        # A non-finite weight (degenerate residuals) makes R's glm() stop: no verdict.
        usable = usable & np.isfinite(omega).all(axis=1)
        omega = np.where(usable[:, None], omega, 1.0)
        fit = _glm(x, y, omega)
        phi = np.maximum(fit.dispersion, 1.0)
        fit.dispersion = np.sum(omega * fit.residuals**2, axis=1) / (x.shape[1] - x.shape[2])
    return fit, phi, usable


# Per judged period: eta0 (the link-scale prediction), its standard error, phi and the trend.
_Fitted = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _fit_periods(
    y: np.ndarray, periods: np.ndarray, layout: _Layout, s: FarringtonSettings
) -> _Fitted:
    """Fit the baselines of ``periods`` (0-based indices into ``y``) in one batch; the periods'
    own counts take no part."""
    t_count = periods.size
    rows = periods[:, None] - layout.offsets[None, :]  # (T, m) 0-based baseline indices
    response = y[rows]
    wtime = rows + 1.0  # R's wtime is the 1-based position of the period in the series
    present = np.unique(layout.levels)
    dummies = (layout.levels[:, None] == present[None, 1:]).astype(float)  # treatment coding
    now_dummy = (present[1:] == s.no_periods).astype(float)

    def design(with_trend: bool, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = [np.ones((idx.size, rows.shape[1]))]
        now = [np.ones(idx.size)]
        if with_trend:
            cols.append(wtime[idx])
            now.append(periods[idx] + 1.0)
        x = np.concatenate(
            [np.stack(cols, axis=2), np.broadcast_to(dummies, (idx.size, *dummies.shape))],
            axis=2,
        )
        x0 = np.concatenate([np.stack(now, axis=1), np.tile(now_dummy, (idx.size, 1))], axis=1)
        return x, x0

    eta0 = np.full(t_count, np.nan)
    se_eta0 = np.full(t_count, np.nan)
    phi = np.full(t_count, np.nan)
    trend = np.full(t_count, np.nan)

    def keep(idx: np.ndarray, fit: _Fit, fit_phi: np.ndarray, x0: np.ndarray, mask) -> None:
        eta = np.einsum("tq,tq->t", x0, fit.beta)
        var = np.einsum("tq,tqr,tr->t", x0, fit.cov_unscaled, x0) * fit.dispersion
        eta0[idx[mask]], se_eta0[idx[mask]] = eta[mask], np.sqrt(var[mask])
        phi[idx[mask]] = fit_phi[mask]

    without_trend = np.arange(t_count)
    if s.trend:
        idx = np.arange(t_count)
        x, x0 = design(True, idx)
        fit, fit_phi, usable = _fit_with_reweighting(x, response, s)
        eta = np.einsum("tq,tq->t", x0, fit.beta)
        se_time = np.sqrt(fit.dispersion * fit.cov_unscaled[:, 1, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            p_time = 2 * stats.t.sf(np.abs(fit.beta[:, 1] / se_time), rows.shape[1] - x.shape[2])
        extrapolates = np.maximum(np.exp(eta), _EPS) > response.max(axis=1)
        keeps_trend = usable & (s.b >= 3) & (p_time < s.p_threshold_trend) & ~extrapolates
        keep(idx, fit, fit_phi, x0, keeps_trend)
        trend[keeps_trend] = 1.0
        without_trend = idx[~keeps_trend]
    if without_trend.size:
        x, x0 = design(False, without_trend)
        fit, fit_phi, usable = _fit_with_reweighting(x, response[without_trend], s)
        keep(without_trend, fit, fit_phi, x0, usable)
        trend[without_trend[usable]] = 0.0
    return eta0, se_eta0, phi, trend


def _verdicts(
    y: np.ndarray, periods: np.ndarray, fitted: _Fitted, s: FarringtonSettings
) -> dict[str, np.ndarray]:
    """Judge ``periods``' counts against their fitted baselines."""
    eta0, se_eta0, phi, trend = fitted
    expected, upper, centre = _bounds(eta0, se_eta0, phi, s)
    alarm, enough, score = _alarms(y, periods, upper, centre, s)
    return {
        "expected": expected,
        "upper": upper,
        "alarm": alarm,
        "enough_cases": enough,
        "score": score,
        "pvalue": _pvalue(eta0, se_eta0, phi, y[periods], s),
        "phi": phi,
        "trend": trend,
    }


def _alarms(y: np.ndarray, periods: np.ndarray, upper: np.ndarray, centre: np.ndarray,
            s: FarringtonSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alarm, enough_cases, score) of ``periods``' counts against their thresholds."""
    observed = y[periods]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        score = (observed - centre) / (upper - centre)
    cases, span = s.limit54
    recent = np.array([y[p - span + 1 : p + 1].sum() for p in periods])
    enough = (recent >= cases).astype(float)
    decided = ~np.isnan(upper)
    with np.errstate(invalid="ignore"):
        alarm = np.where(decided, (enough > 0) & (score > 1) & (observed != 0), np.nan)
    return alarm.astype(float), np.where(decided, enough, np.nan), score


def _bounds(
    eta0: np.ndarray, se: np.ndarray, phi: np.ndarray, s: FarringtonSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's algo.farrington.threshold.{noufaily,farrington}, which need no count: (expected,
    upper, centre); a count's exceedance score is (count - centre) / (upper - centre)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if s.threshold_method == "delta":
            mu0, exponent, scale = _delta(eta0, se, phi, s)
            z = stats.norm.ppf(1 - s.alpha)
            upper = (mu0**exponent + z * scale) ** (1 / exponent)
            return mu0, upper, mu0
        mu_q, over, poisson, size = _plugin(eta0, se, phi, s)
        upper = np.full(eta0.shape, np.nan)
        upper[over] = stats.nbinom.ppf(1 - s.alpha, size[over], 1 / phi[over])
        upper[poisson] = stats.poisson.ppf(1 - s.alpha, mu_q[poisson])
        expected = np.where(over | poisson, np.exp(eta0), np.nan)
        # R compares the count with the *link-scale* prediction here; kept for the score only.
        return expected, upper, eta0


def _pvalue(
    eta0: np.ndarray, se: np.ndarray, phi: np.ndarray, y: np.ndarray, s: FarringtonSettings
) -> np.ndarray:
    """The probability of a count at least as large as ``y``, as R computes it."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if s.threshold_method == "delta":
            mu0, exponent, scale = _delta(eta0, se, phi, s)
            return stats.norm.sf(y**exponent, loc=mu0**exponent, scale=scale)
        mu_q, over, poisson, size = _plugin(eta0, se, phi, s)
        pvalue = np.full(eta0.shape, np.nan)
        pvalue[over] = stats.nbinom.sf(y[over] - 1, size[over], 1 / phi[over])
        pvalue[poisson] = stats.poisson.sf(y[poisson] - 1, mu_q[poisson])
        return pvalue


def _delta(eta0: np.ndarray, se: np.ndarray, phi: np.ndarray, s: FarringtonSettings
           ) -> tuple[np.ndarray, float, np.ndarray]:
    """Farrington et al. (1996)'s power-transformed normal limit: (mu0, exponent, scale)."""
    mu0 = np.maximum(np.exp(eta0), _EPS)  # predict(type = "response")
    se_mu0 = se * mu0
    tau = phi + se_mu0**2 / mu0
    exponent, scale = {
        "none": (1.0, np.sqrt(mu0 * tau)),
        "1/2": (0.5, np.sqrt(tau / 4)),
        "2/3": (2 / 3, np.sqrt(4 / 9 * mu0 ** (1 / 3) * tau)),
    }[s.powertrans]
    return mu0, exponent, scale


def _plugin(eta0: np.ndarray, se: np.ndarray, phi: np.ndarray, s: FarringtonSettings
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The negative binomial (Poisson where phi is 1) of "nbPlugin" and "muan": (its mean,
    where negative binomial, where Poisson, its size)."""
    if s.threshold_method == "nbPlugin":
        mu_q = np.exp(eta0)
    else:  # "muan"
        mu_q = np.exp(stats.norm.ppf(1 - s.alpha, loc=eta0, scale=se))
    finite = np.isfinite(mu_q) & np.isfinite(phi)
    over = finite & (phi > 1)
    return mu_q, over, finite & ~over, mu_q / (phi - 1)
