"""Experiment statistics against values computed independently in each test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from endcap.experiments.stats import (
    DEFAULT_MDE_RELATIVE,
    SRM_ALPHA,
    AlwaysValid,
    Summary,
    absolute_difference,
    default_tau,
    msprt_p_value,
    relative_lift,
    sample_size,
    srm_p_value,
    summarise,
)

# --- summarise -----------------------------------------------------------------------


def test_summarise_matches_hand_computation() -> None:
    s = summarise([1.0, 2.0, 3.0, 6.0])
    assert s.n == 4
    assert s.mean == pytest.approx(3.0)
    # deviations -2, -1, 0, 3 -> squares 4 + 1 + 0 + 9 = 14, over n - 1 = 3
    assert s.var == pytest.approx(14 / 3)


def test_summarise_small_samples_are_nan_not_errors() -> None:
    empty = summarise([])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.var)
    one = summarise(np.array([5]))
    assert one.n == 1 and one.mean == 5.0 and math.isnan(one.var)


# --- relative lift (delta method) ----------------------------------------------------


def test_relative_lift_matches_delta_formula() -> None:
    t, c = Summary(400, 11.0, 30.0), Summary(500, 10.0, 25.0)
    lift = relative_lift(t, c, alpha=0.1)
    se = math.sqrt(30.0 / (400 * 10.0**2) + 11.0**2 * 25.0 / (500 * 10.0**4))
    z = sps.norm.ppf(0.95)
    assert lift.lift == pytest.approx(0.1)
    assert lift.se == pytest.approx(se)
    assert (lift.low, lift.high) == pytest.approx((0.1 - z * se, 0.1 + z * se))
    assert lift.defined


@pytest.mark.parametrize(
    ("t", "c"),
    [
        (Summary(100, 1.0, 1.0), Summary(100, 0.0, 1.0)),  # zero control mean
        (Summary(1, 1.0, math.nan), Summary(100, 1.0, 1.0)),  # n < 2
        (Summary(100, 1.0, 1.0), Summary(0, math.nan, math.nan)),  # empty control
    ],
)
def test_relative_lift_undefined_is_all_nan(t: Summary, c: Summary) -> None:
    lift = relative_lift(t, c)
    assert not lift.defined
    assert all(math.isnan(x) for x in (lift.lift, lift.low, lift.high, lift.se))


def test_delta_method_interval_covers_true_ratio_about_95_percent() -> None:
    """2,000 simulated experiments on skewed (lognormal) data, 400 shoppers per arm."""
    rng = np.random.default_rng(20240601)
    runs, n, sigma = 2000, 400, 0.6
    mu_t, mu_c = math.log(11.0), math.log(10.0)
    true_lift = math.exp(mu_t - mu_c) - 1.0  # the exp(sigma²/2) factors cancel
    t = rng.lognormal(mu_t, sigma, size=(runs, n))
    c = rng.lognormal(mu_c, sigma, size=(runs, n))
    covered = 0
    for i in range(runs):
        lift = relative_lift(summarise(t[i]), summarise(c[i]))
        covered += lift.low <= true_lift <= lift.high
    assert 0.93 <= covered / runs <= 0.97


# --- absolute difference (Welch) -----------------------------------------------------


def test_welch_interval_matches_scipy_ttest() -> None:
    rng = np.random.default_rng(7)
    t = rng.normal(10.5, 3.0, size=40)
    c = rng.normal(10.0, 1.5, size=65)
    d = absolute_difference(summarise(t), summarise(c), alpha=0.05)

    res = sps.ttest_ind(t, c, equal_var=False)
    ci = res.confidence_interval(confidence_level=0.95)
    assert d.diff == pytest.approx(t.mean() - c.mean())
    assert d.df == pytest.approx(res.df)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))

    # By hand: Welch–Satterthwaite df and the t quantile.
    at, ac = t.var(ddof=1) / t.size, c.var(ddof=1) / c.size
    df = (at + ac) ** 2 / (at**2 / (t.size - 1) + ac**2 / (c.size - 1))
    half = sps.t.ppf(0.975, df) * math.sqrt(at + ac)
    assert (d.low, d.high) == pytest.approx((d.diff - half, d.diff + half))

    # Duality: shifting the treatment by an endpoint puts the Welch p-value at alpha.
    for edge in (d.low, d.high):
        assert sps.ttest_ind(t - edge, c, equal_var=False).pvalue == pytest.approx(0.05)


def test_welch_degenerate_cases() -> None:
    nan = absolute_difference(Summary(1, 1.0, math.nan), Summary(10, 1.0, 1.0))
    assert not nan.defined and math.isnan(nan.low)
    point = absolute_difference(Summary(5, 2.0, 0.0), Summary(5, 1.0, 0.0))
    assert (point.diff, point.low, point.high, point.se) == (1.0, 1.0, 1.0, 0.0)


# --- mSPRT ---------------------------------------------------------------------------


def mixture_lr_by_quadrature(d: float, v: float, tau: float) -> float:
    """∫ N(d; θ, V) N(θ; 0, τ²) dθ / N(d; 0, V), integrated numerically."""
    sd = math.sqrt(v)

    def integrand(theta: float) -> float:
        return float(sps.norm.pdf(d, theta, sd) * sps.norm.pdf(theta, 0.0, tau))

    # The integrand is concentrated near the posterior mean; pass it as a break point.
    centre = d * tau**2 / (v + tau**2)
    lo, hi = centre - 40 * tau, centre + 40 * tau
    num, _ = integrate.quad(integrand, lo, hi, points=[centre], limit=200)
    return float(num / sps.norm.pdf(d, 0.0, sd))


@pytest.mark.parametrize(
    ("d", "v", "tau"),
    [(0.3, 0.04, 0.5), (-0.05, 0.01, 0.02), (0.0, 0.2, 1.0), (1.2, 0.09, 0.3)],
)
def test_msprt_matches_numerical_mixture_integral(d: float, v: float, tau: float) -> None:
    expected = mixture_lr_by_quadrature(d, v, tau)
    # Build summaries with the wanted difference and variance: V = 2 * var / n.
    n = 1000
    t = Summary(n, 5.0 + d, v * n / 2)
    c = Summary(n, 5.0, v * n / 2)
    assert msprt_p_value(t, c, tau) == pytest.approx(min(1.0, 1.0 / expected), rel=1e-7)


def test_msprt_strong_effect_has_tiny_p_and_no_overflow() -> None:
    p = msprt_p_value(Summary(10**6, 11.0, 1.0), Summary(10**6, 10.0, 1.0), tau=0.5)
    assert 0.0 <= p < 1e-100


def test_msprt_default_tau_and_degenerate_inputs() -> None:
    t, c = Summary(500, 10.4, 20.0), Summary(500, 10.0, 20.0)
    assert default_tau(10.0) == pytest.approx(DEFAULT_MDE_RELATIVE * 10.0)
    assert msprt_p_value(t, c) == msprt_p_value(t, c, DEFAULT_MDE_RELATIVE * 10.0)
    assert msprt_p_value(Summary(1, 1.0, math.nan), c, 0.5) == 1.0
    assert msprt_p_value(Summary(5, 1.0, 0.0), Summary(5, 1.0, 0.0), 0.5) == 1.0
    with pytest.raises(ValueError):
        msprt_p_value(t, c, tau=0.0)
    with pytest.raises(ValueError):
        msprt_p_value(t, Summary(500, 0.0, 1.0))  # no default tau for a zero baseline


def _aa_looks(
    rng: np.random.Generator, runs: int, looks: int, per_day: int, mean: float, sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative means and sample variances of one arm of normal data at each look.

    Simulated through sufficient statistics: a day's mean is N(mean, sd²/k) and its sum
    of squared deviations sd² χ²(k - 1), independently; days combine exactly by
    SS = Σ SS_day + Σ k (mean_day - overall mean)².
    """
    k = per_day
    day_mean = rng.normal(mean, sd / math.sqrt(k), size=(runs, looks))
    day_ss = sd**2 * rng.chisquare(k - 1, size=(runs, looks))
    n = k * np.arange(1, looks + 1)
    cum_mean = np.cumsum(day_mean * k, axis=1) / n
    cum_sq = np.cumsum(day_ss + k * day_mean**2, axis=1)  # Σ x² so far
    cum_var = (cum_sq - n * cum_mean**2) / (n - 1)
    return cum_mean, cum_var


def test_always_valid_p_survives_daily_peeking_where_naive_z_does_not() -> None:
    """1,000 A/A experiments, 20 daily looks of 200 new shoppers per arm."""
    rng = np.random.default_rng(12345)
    runs, looks, per_day, alpha = 1000, 20, 200, 0.05
    mean, sd = 10.0, 12.0  # revenue-like: sd above the mean
    mt, vt = _aa_looks(rng, runs, looks, per_day, mean, sd)
    mc, vc = _aa_looks(rng, runs, looks, per_day, mean, sd)
    n = per_day * np.arange(1, looks + 1)

    # Naive: a two-sided z test at every look, stop at the first p < alpha.
    z = np.abs(mt - mc) / np.sqrt(vt / n + vc / n)
    naive_rejects = (2 * sps.norm.sf(z) < alpha).any(axis=1).mean()

    always_valid_rejects = 0
    monotone = True
    for r in range(runs):
        av = AlwaysValid()
        last = 1.0
        for j in range(looks):
            n_j = int(n[j])
            p = av.update(Summary(n_j, mt[r, j], vt[r, j]), Summary(n_j, mc[r, j], vc[r, j]))
            monotone &= p <= last
            last = p
        always_valid_rejects += last < alpha
        assert av.looks == looks and av.tau == pytest.approx(DEFAULT_MDE_RELATIVE * mc[r, 0])

    assert monotone
    assert always_valid_rejects / runs <= alpha
    assert naive_rejects >= 0.15  # peeking 20 times roughly quadruples the error rate


def _revenue_like(rng: np.random.Generator, runs: int, n: int, mean_factor: float = 1.0
                  ) -> np.ndarray:
    """Zero-inflated, heavy-tailed per-shopper revenue: 10% buy, lognormal(3, 1.5)."""
    buy = rng.random((runs, n)) < 0.1
    return np.where(buy, mean_factor * rng.lognormal(3.0, 1.5, size=(runs, n)), 0.0)


def _looks_of(x: np.ndarray, per_look: int) -> list[list[Summary]]:
    """Cumulative summaries of each run's values after every ``per_look`` shoppers."""
    n = per_look * np.arange(1, x.shape[1] // per_look + 1)
    s1, s2 = np.cumsum(x, axis=1)[:, n - 1], np.cumsum(x * x, axis=1)[:, n - 1]
    mean = s1 / n
    var = (s2 - n * mean**2) / (n - 1)
    return [[Summary(int(n[j]), float(mean[r, j]), float(var[r, j]))
             for j in range(len(n))] for r in range(x.shape[0])]


@pytest.mark.parametrize("mde", [0.10, 0.5])
def test_always_valid_holds_on_heavy_tailed_revenue_for_any_declared_mde(mde: float) -> None:
    """400 A/A experiments on revenue-like data (sd about 3.6 times the mean), 20 looks
    of 200 shoppers per arm, tau from the declared mde: at most alpha reject."""
    rng = np.random.default_rng(2026)
    looks_t = _looks_of(_revenue_like(rng, 400, 4000), 200)
    looks_c = _looks_of(_revenue_like(rng, 400, 4000), 200)
    rejects = 0
    for t, c in zip(looks_t, looks_c, strict=True):
        av = AlwaysValid(mde_relative=mde)
        for lt, lc in zip(t, c, strict=True):
            av.update(lt, lc)
        assert av.tau == pytest.approx(mde * c[0].mean)
        rejects += av.p <= 0.05
    assert rejects / 400 <= 0.05


def test_a_declared_mde_near_the_effect_stops_sooner() -> None:
    """A 50% lift on revenue-like data: tau matched to a 50% effect needs fewer looks
    than tau for 5%, in most runs (the mixture is most powerful near tau)."""
    rng = np.random.default_rng(7)
    treat = _looks_of(_revenue_like(rng, 50, 20_000, 1.5), 500)
    ctrl = _looks_of(_revenue_like(rng, 50, 20_000), 500)

    def looks_to_stop(mde: float, t: list[Summary], c: list[Summary]) -> int:
        av = AlwaysValid(mde_relative=mde)
        for j, (lt, lc) in enumerate(zip(t, c, strict=True)):
            if av.update(lt, lc) <= 0.05:
                return j + 1
        return len(t) + 1

    small = [looks_to_stop(0.05, t, c) for t, c in zip(treat, ctrl, strict=True)]
    matched = [looks_to_stop(0.5, t, c) for t, c in zip(treat, ctrl, strict=True)]
    assert np.median(matched) < 0.6 * np.median(small)
    assert sum(m <= s for m, s in zip(matched, small, strict=True)) >= 40


def test_always_valid_detects_a_real_effect() -> None:
    rng = np.random.default_rng(99)
    mt, vt = _aa_looks(rng, 1, 20, 2000, 10.5, 12.0)  # a 5% lift
    mc, vc = _aa_looks(rng, 1, 20, 2000, 10.0, 12.0)
    av = AlwaysValid(tau=0.5)
    for j in range(20):
        n = 2000 * (j + 1)
        av.update(Summary(n, mt[0, j], vt[0, j]), Summary(n, mc[0, j], vc[0, j]))
    assert av.p < 0.05


def test_always_valid_waits_for_a_nonzero_control_mean() -> None:
    av = AlwaysValid()
    assert av.update(Summary(10, 0.0, 0.0), Summary(10, 0.0, 0.0)) == 1.0
    assert av.tau is None and av.looks == 0
    av.update(Summary(100, 2.2, 1.0), Summary(100, 2.0, 1.0))
    assert av.tau == pytest.approx(DEFAULT_MDE_RELATIVE * 2.0) and av.looks == 1
    declared = AlwaysValid(mde_relative=0.25)  # tau from the experiment's declared MDE
    declared.update(Summary(100, 2.2, 1.0), Summary(100, 2.0, 1.0))
    assert declared.tau == pytest.approx(0.5)


# --- sample-ratio mismatch -----------------------------------------------------------


def test_srm_worked_chi_square_example() -> None:
    # [50, 30, 20] against equal shares: expected 100/3 each.
    e = 100 / 3
    chi2 = ((50 - e) ** 2 + (30 - e) ** 2 + (20 - e) ** 2) / e  # = 14.0 exactly
    assert chi2 == pytest.approx(14.0)
    p = srm_p_value([50, 30, 20], [1 / 3, 1 / 3, 1 / 3])
    assert p == pytest.approx(sps.chi2.sf(14.0, df=2))
    assert p == pytest.approx(math.exp(-7.0))  # chi² with 2 df: sf(x) = exp(-x / 2)
    assert p == pytest.approx(0.000912, rel=1e-3)
    assert p < SRM_ALPHA  # just below the strict threshold: flagged


def test_srm_flags_a_real_mismatch_and_accepts_weights() -> None:
    # 50/50 split observed as 10,300 vs 9,700: chi² = 2 * 300² / 10,000 = 18.
    p = srm_p_value([10_300, 9_700], [1, 1])
    assert p == pytest.approx(sps.chi2.sf(18.0, df=1))
    assert p < SRM_ALPHA
    assert srm_p_value([900, 100], [0.9, 0.1]) == pytest.approx(1.0)
    assert srm_p_value([0, 0], [0.5, 0.5]) == 1.0
    with pytest.raises(ValueError):
        srm_p_value([1, 2, 3], [0.5, 0.5])


# --- sample size ---------------------------------------------------------------------


def test_sample_size_matches_textbook_formula() -> None:
    mean, sd, mde = 10.0, 12.0, 0.05
    delta = mde * mean
    for alpha, power in [(0.05, 0.8), (0.01, 0.9), (0.1, 0.5)]:
        z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
        expected = math.ceil(2 * z**2 * sd**2 / delta**2)
        assert sample_size(mean, sd, mde, alpha, power) == expected


def test_sample_size_worked_example() -> None:
    factor = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) ** 2
    assert factor == pytest.approx(7.85, abs=0.005)
    # sd = mean and a 10% MDE: n = 2 * 7.849 / 0.1² = 1569.8 -> 1570 per arm,
    # close to Lehr's rule of thumb 16 sd² / delta² = 1600.
    assert sample_size(1.0, 1.0, 0.10) == 1570
    with pytest.raises(ValueError):
        sample_size(0.0, 1.0, 0.1)
