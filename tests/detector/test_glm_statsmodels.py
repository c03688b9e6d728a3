"""The Farrington GLM (a numpy port of R's glm.fit) agrees with statsmodels where both converge.

The port exists to follow R step for step on sparse series (tests/detector/test_farrington.py
checks it against R); on well-behaved problems it must be the ordinary quasi-Poisson fit that
statsmodels computes too: same coefficients, fitted values, Pearson dispersion and covariance.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from services.detector.farrington import _glm


def problems(seed: int, count: int = 12, m: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seasonal, trending, over-dispersed counts with a 10-level season factor, like a baseline."""
    rng = np.random.default_rng(seed)
    time = np.arange(m, dtype=float)
    season = np.eye(10)[np.arange(m) % 10][:, 1:]
    x = np.column_stack([np.ones(m), time, season])
    xs, ys, ws = [], [], []
    for _ in range(count):
        beta = np.concatenate([[rng.uniform(1.0, 3.0), rng.uniform(-0.01, 0.01)],
                               rng.normal(0, 0.3, 9)])
        mu = np.exp(x @ beta)
        y = rng.negative_binomial(n=5, p=5 / (5 + mu)).astype(float)
        xs.append(x)
        ys.append(y)
        ws.append(rng.uniform(0.5, 1.5, m))  # Farrington's outbreak down-weights
    return np.stack(xs), np.stack(ys), np.stack(ws)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_batched_irls_is_the_quasi_poisson_fit_of_statsmodels(seed: int) -> None:
    x, y, prior = problems(seed)
    fit = _glm(x, y, prior)
    assert fit.converged.all()
    for t in range(len(y)):
        reference = sm.GLM(y[t], x[t], family=sm.families.Poisson(),
                           var_weights=prior[t]).fit(scale="X2", tol=1e-12)
        np.testing.assert_allclose(fit.beta[t], reference.params, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fit.mu[t], reference.mu, rtol=1e-6)
        # R's summary.glm (and so the port) weights the residuals with the working weights of
        # the last iteration, computed before its final update; statsmodels uses the final fit.
        # The two differ by the change of mu in that last step: about 2e-5 relative here, in the
        # dispersion and so in the covariance.
        np.testing.assert_allclose(fit.dispersion[t], reference.scale, rtol=1e-4)
        np.testing.assert_allclose(fit.cov_unscaled[t] * fit.dispersion[t],
                                   reference.cov_params(), rtol=1e-4, atol=1e-10)
