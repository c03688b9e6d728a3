"""Market purity and price against their robust rolling baseline."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.detector.market import (
    MarketObservation,
    _median,
    market_anomalies,
    market_signals,
    observation_from_record,
)
from streams.records import Event

AS_OF = dt.date(2025, 6, 30)
CITY, OTHER, QUIET = "E08000025", "E08000035", "E06000053"
_ids = itertools.count()


def obs(area: str, days_ago: int, *, purity: float | None = None, price: float = 45.0,
        quantity: float = 1.0, unit: str = "g", drug: str = "heroin") -> MarketObservation:
    return MarketObservation(
        report_key=f"market/default/m-{next(_ids)}", drug=drug, area_code=area,
        date=AS_OF - dt.timedelta(days=days_ago), price_gbp=price, quantity=quantity, unit=unit,
        purity_percent=purity,
    )


def background(rng: np.random.Generator, areas: tuple[str, ...] = (CITY, OTHER),
               per_area: int = 40) -> list[MarketObservation]:
    """Heroin over the 26 weeks before the window: purity ~45 +- 8%, 45 GBP/g with a bulk
    discount (price ~ quantity ** 0.85) and 12% price noise."""
    out = []
    for area in areas:
        for _ in range(per_area):
            quantity = float(rng.choice([0.1, 0.2, 0.5, 1.0, 3.5]))
            price = round(45 * quantity ** 0.85 * float(rng.lognormal(0, 0.12)), 1)
            out.append(obs(area, int(rng.integers(8, 180)), purity=float(rng.normal(45, 8)),
                           price=price, quantity=quantity))
    return out


def test_high_purity_spike_is_found_against_the_area_baseline() -> None:
    history = background(np.random.default_rng(1))
    spike = [obs(CITY, d, purity=p) for d, p in ((0, 84.0), (2, 79.5), (5, 88.0))]
    findings = market_anomalies(history + spike, as_of=AS_OF)
    purity = [f for f in findings if f.measure == "purity"]
    assert len(purity) == 1
    found = purity[0]
    assert (found.area_code, found.direction, found.baseline_scope) == (CITY, "high", "area")
    assert found.recent == pytest.approx(84.0) and 40 < found.baseline < 50
    assert found.z >= 3.5 and set(found.report_keys) == {o.report_key for o in spike}


def test_sudden_price_drop_is_found_and_bulk_buys_are_not() -> None:
    history = background(np.random.default_rng(2))
    cheap = [obs(OTHER, d, price=24.0) for d in (1, 3, 4)]
    # Three bulk purchases at the usual bulk price: cheaper per gram, but not a drop.
    bulk = [obs(CITY, d, price=round(45 * 3.5 ** 0.85), quantity=3.5) for d in (1, 2, 6)]
    findings = market_anomalies(history + cheap + bulk, as_of=AS_OF)
    prices = [f for f in findings if f.measure == "price"]
    assert [(f.area_code, f.direction, f.unit) for f in prices] == [(OTHER, "low", "g")]
    assert prices[0].recent == pytest.approx(24.0)
    assert prices[0].baseline == pytest.approx(45, rel=0.1)


def test_usual_values_give_nothing() -> None:
    rng = np.random.default_rng(3)
    history = background(rng)
    usual = [obs(CITY, d, purity=float(rng.normal(45, 8)),
                 price=round(45 * float(rng.lognormal(0, 0.12)))) for d in range(7)]
    assert market_anomalies(history + usual, as_of=AS_OF) == []


def test_area_with_little_history_falls_back_to_neighbours_then_country() -> None:
    history = background(np.random.default_rng(4)) + [obs(QUIET, 30, purity=44.0)]
    spike = [obs(QUIET, 1, purity=86.0)]
    found = market_anomalies(history + spike, as_of=AS_OF)
    assert [(f.area_code, f.baseline_scope) for f in found] == [(QUIET, "national")]
    via_neighbours = market_anomalies(history + spike, as_of=AS_OF,
                                      neighbours={QUIET: [CITY]})
    assert via_neighbours[0].baseline_scope == "neighbourhood"


def test_one_observation_warns_of_high_purity_but_not_of_a_price_drop() -> None:
    history = background(np.random.default_rng(5))
    findings = market_anomalies(history + [obs(CITY, 0, purity=90.0, price=15.0)], as_of=AS_OF)
    assert [(f.measure, f.direction) for f in findings] == [("purity", "high")]


def test_no_baseline_no_verdict() -> None:
    assert market_anomalies([obs(CITY, 0, purity=95.0)], as_of=AS_OF) == []


def test_record_and_signal() -> None:
    record = {"report_id": "m-1", "collected_on": "2025-06-29", "area_code": CITY,
              "drug": "Heroin", "price_gbp": 40, "quantity": 500, "unit": "mg",
              "purity_percent": 83.0, "source": "test_purchase"}
    observation = observation_from_record("market/default/m-1", record)
    assert observation.drug == "heroin" and observation.units == 0.5
    assert observation.price_unit == "g"
    history = background(np.random.default_rng(6))
    findings = market_anomalies(history + [observation], as_of=AS_OF)
    event = Event(
        event_id="ev-m-1", report_key="market/default/m-1", source="market",
        submitter="default", report_id="m-1", area_code=CITY, region_code="E12000005",
        setting="unknown", date=observation.date,
        received_at=dt.datetime(2025, 6, 29, 12, tzinfo=dt.UTC), mention_index=0,
        substance_key="GVGLGOZIDCSQPN-PHHCHFJLSA-N", substance_name="heroin",
        substance_class="other_opioid", purity_percent=83.0,
    )
    signals = market_signals(findings, [event])
    assert len(signals) == 1
    signal = signals[0]
    assert signal.detector == "market" and signal.severity == "high"
    assert signal.subject == "substance" and signal.substance_key == event.substance_key
    assert signal.observed == pytest.approx(83.0) and "purity" in signal.summary


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), max_size=30))
def test_median_is_numpys(values: list[float]) -> None:
    array = np.array(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns of an empty array's median
        want = float(np.median(array))
    got = _median(array)
    assert (math.isnan(got) and math.isnan(want)) or got == want


def _findings_reading_the_whole_baseline(observations, *, as_of, neighbours, areas=None,
                                         window_days=7, baseline_weeks=26, min_baseline=10):
    """Each judged area's baseline chosen by filtering the drug's whole national baseline, as
    the detector first did: the oracle for choosing it from the baseline grouped by area."""
    from services.detector import market

    def filtering(history, by_area, area, hood, least):
        for scope, pool in (("area", [o for o in history if o.area_code == area]),
                            ("neighbourhood", [o for o in history if o.area_code in hood]),
                            ("national", history)):
            if len(pool) >= least:
                return scope, pool
        return None

    grouped = market._baseline
    market._baseline = filtering
    try:
        return market_anomalies(observations, as_of=as_of, neighbours=neighbours, areas=areas,
                                window_days=window_days, baseline_weeks=baseline_weeks,
                                min_baseline=min_baseline, z_threshold=1.0,
                                min_purity_change=1.0, min_price_change=1.05)
    finally:
        market._baseline = grouped


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_area=st.integers(0, 30), recent=st.integers(1, 30),
       min_baseline=st.integers(1, 25))
def test_baselines_grouped_by_area_judge_as_filtering_the_whole_baseline(
        seed: int, per_area: int, recent: int, min_baseline: int) -> None:
    """The same findings, to the last bit, whichever scope each area's baseline falls back to."""
    from services.geography import load_geography

    geography = load_geography()
    rng = np.random.default_rng(seed)
    areas = (CITY, OTHER, QUIET, *sorted(geography.neighbours[CITY])[:3])
    history = background(rng, areas=areas[: int(rng.integers(1, len(areas) + 1))],
                         per_area=per_area)
    window = [obs(str(rng.choice(areas)), int(rng.integers(0, 7)),
                  purity=float(rng.normal(60, 15)), price=float(rng.uniform(10, 80)),
                  quantity=float(rng.choice([0.5, 1.0])), unit=str(rng.choice(["g", "tablet"])),
                  drug=str(rng.choice(["heroin", "cocaine"]))) for _ in range(recent)]
    options = {"as_of": AS_OF, "neighbours": geography.neighbours, "min_baseline": min_baseline}
    want = _findings_reading_the_whole_baseline(history + window, **options)
    got = market_anomalies(history + window, z_threshold=1.0, min_purity_change=1.0,
                           min_price_change=1.05, **options)
    assert got == want
