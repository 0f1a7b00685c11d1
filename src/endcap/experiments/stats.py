"""Statistics for an A/B experiment report: two arms, one per-shopper metric.

Everything works from per-arm sufficient statistics (:class:`Summary`: n, mean, sample
variance), so a report never needs the raw values twice and arms can be summarised
incrementally elsewhere. The arms are assumed independent (each shopper is in exactly
one arm) and the per-shopper values i.i.d. within an arm; every interval below is a
large-sample (central-limit) approximation unless stated otherwise.

Undefined results are NaN, never an exception: a mean needs n >= 1, a variance n >= 2,
and a relative lift a non-zero control mean. :attr:`Lift.defined` and
:attr:`Difference.defined` say whether an interval can be shown.

The fixed-horizon intervals (:func:`relative_lift`, :func:`absolute_difference`) are
valid only when read once, at a sample size fixed in advance (:func:`sample_size`).
A report that people look at every day should decide with the always-valid p-value
(:func:`msprt_p_value`, :class:`AlwaysValid`), which stays valid under any peeking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

NAN = float("nan")

#: Flag a sample-ratio mismatch when :func:`srm_p_value` is below this. Deliberately
#: strict: the check runs on every look at every experiment, and a real assignment bug
#: shows up with p-values far smaller than this (the usual industry threshold).
SRM_ALPHA = 0.001

#: The relative effect the default mSPRT mixing distribution is tuned to detect: a 10%
#: change of the control mean, the smallest change of a recommendations strategy most
#: shops would act on (see :func:`default_tau`; an experiment declares its own ``mde``).
DEFAULT_MDE_RELATIVE = 0.10


@dataclass(frozen=True, slots=True)
class Summary:
    """Sufficient statistics of one arm: count, mean and sample variance (ddof=1)."""

    n: int
    mean: float
    var: float


@dataclass(frozen=True, slots=True)
class Lift:
    """Relative lift ``mt / mc - 1`` with a two-sided ``1 - alpha`` interval."""

    lift: float
    low: float
    high: float
    se: float

    @property
    def defined(self) -> bool:
        return not math.isnan(self.se)


@dataclass(frozen=True, slots=True)
class Difference:
    """Absolute difference ``mt - mc`` with a two-sided ``1 - alpha`` Welch interval."""

    diff: float
    low: float
    high: float
    se: float
    df: float

    @property
    def defined(self) -> bool:
        return not math.isnan(self.se)


def summarise(values: npt.ArrayLike) -> Summary:
    """Count, mean and sample variance (ddof=1) of per-shopper metric values.

    Method: ``numpy.mean`` and ``numpy.var(ddof=1)`` in float64. The mean is NaN for no
    values and the variance NaN for fewer than two.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = int(x.size)
    mean = float(x.mean()) if n >= 1 else NAN
    var = float(x.var(ddof=1)) if n >= 2 else NAN
    return Summary(n, mean, var)


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(sps.norm.ppf(1.0 - alpha / 2.0))


def relative_lift(treatment: Summary, control: Summary, alpha: float = 0.05) -> Lift:
    """Relative lift of the means, ``mt / mc - 1``, with a delta-method interval.

    Method: first-order delta method for the ratio of two independent sample means,
    ``Var(mt / mc) ≈ vt / (nt mc²) + mt² vc / (nc mc⁴)``, and the normal interval
    ``lift ± z_{1-alpha/2} se``. Assumes both arms are large enough for their means to
    be near-normal and the control mean to be well away from zero relative to its
    standard error (otherwise the ratio is unstable and the interval too narrow).

    All fields are NaN when either arm has n < 2 or the control mean is zero (or NaN);
    check :attr:`Lift.defined`.
    """
    z = _z(alpha)
    mt, mc = treatment.mean, control.mean
    if treatment.n < 2 or control.n < 2 or mc == 0.0 or math.isnan(mc):
        return Lift(NAN, NAN, NAN, NAN)
    lift = mt / mc - 1.0
    var = treatment.var / (treatment.n * mc**2) + mt**2 * control.var / (control.n * mc**4)
    se = math.sqrt(var)
    return Lift(lift, lift - z * se, lift + z * se, se)


def absolute_difference(treatment: Summary, control: Summary, alpha: float = 0.05) -> Difference:
    """Difference of the means, ``mt - mc``, with a Welch (unequal-variance) t interval.

    Method: ``se = sqrt(vt/nt + vc/nc)``, Welch–Satterthwaite degrees of freedom
    ``df = se⁴ / ((vt/nt)²/(nt-1) + (vc/nc)²/(nc-1))`` and the interval
    ``diff ± t_{1-alpha/2, df} se`` — the interval of ``scipy.stats.ttest_ind(...,
    equal_var=False)``. Exact for normal data, otherwise a large-sample approximation.

    All fields are NaN when either arm has n < 2; when both variances are zero the
    interval collapses to the point (``df`` is then infinite).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if treatment.n < 2 or control.n < 2:
        return Difference(NAN, NAN, NAN, NAN, NAN)
    diff = treatment.mean - control.mean
    at, ac = treatment.var / treatment.n, control.var / control.n
    se = math.sqrt(at + ac)
    if se == 0.0:
        return Difference(diff, diff, diff, 0.0, math.inf)
    df = (at + ac) ** 2 / (at**2 / (treatment.n - 1) + ac**2 / (control.n - 1))
    half = float(sps.t.ppf(1.0 - alpha / 2.0, df)) * se
    return Difference(diff, diff - half, diff + half, se, df)


def default_tau(baseline_mean: float, mde_relative: float = DEFAULT_MDE_RELATIVE) -> float:
    """The default mSPRT mixing scale: ``tau = mde_relative * |baseline_mean|``.

    Rule: put the normal mixing distribution N(0, tau²) on the absolute difference of
    means at the scale of the smallest effect worth detecting. The mixture SPRT is most
    powerful for effects near tau (Johari et al. choose tau to match the effects
    expected); a much smaller tau wastes power on effects too small to matter, a much
    larger one on effects that never occur. ``baseline_mean`` should come from before
    the experiment (or its first look, as :class:`AlwaysValid` does) and then stay
    fixed: tau must not be re-tuned on the data being tested.
    """
    tau = abs(mde_relative * baseline_mean)
    if not tau > 0.0 or math.isinf(tau):
        raise ValueError(
            f"no default tau for baseline mean {baseline_mean} and relative MDE "
            f"{mde_relative}: pass tau in the metric's units"
        )
    return tau


def msprt_log_lambda(d: float, v: float, tau: float) -> float:
    """Log of the normal-mixture likelihood ratio for an observed difference ``d``.

    ``Lambda = sqrt(V / (V + tau²)) * exp(tau² d² / (2 V (V + tau²)))``: the likelihood
    of ``d ~ N(theta, V)`` averaged over ``theta ~ N(0, tau²)``, divided by the
    likelihood under ``theta = 0``. Computed in logs so large ``d`` cannot overflow.
    """
    t2 = tau * tau
    return 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2.0 * v * (v + t2))


def msprt_p_value(treatment: Summary, control: Summary, tau: float | None = None) -> float:
    """One look's mixture-SPRT p-value for H0: equal means, ``min(1, 1 / Lambda)``.

    Method: the mSPRT of Johari, Pekelis and Walsh, "Always Valid Inference" (2017/2022)
    for the difference of two means, with mixing distribution N(0, tau²) on the
    difference: ``d = mt - mc``, ``V = vt/nt + vc/nc`` and Lambda as in
    :func:`msprt_log_lambda`. Under H0, Lambda is a nonnegative martingale across looks,
    so by Ville's inequality ``P(sup Lambda >= 1/alpha) <= alpha``: the running minimum
    of this p-value over looks (:class:`AlwaysValid`) is valid however often, and
    whenever, the report is read. Assumptions: independent arms, sample sizes large
    enough that ``d`` is near-normal and the plug-in variances near their true values.

    ``tau`` is in the metric's units; ``None`` means :func:`default_tau` of the control
    mean (see there for the rule). Returns 1.0 (no evidence) while either arm has
    n < 2 or the variance of ``d`` is zero or undefined.
    """
    if tau is None:
        tau = default_tau(control.mean)
    if not tau > 0.0:
        raise ValueError(f"tau must be positive, got {tau}")
    if treatment.n < 2 or control.n < 2:
        return 1.0
    v = treatment.var / treatment.n + control.var / control.n
    if not v > 0.0:  # also catches NaN
        return 1.0
    log_lambda = msprt_log_lambda(treatment.mean - control.mean, v, tau)
    return 1.0 if log_lambda <= 0.0 else math.exp(-log_lambda)


@dataclass(slots=True)
class AlwaysValid:
    """The always-valid p-value of one experiment: the running minimum over looks.

    Call :meth:`update` with the cumulative summaries at every look (daily, hourly, on
    every page view); the returned p-value never increases and ``p <= alpha`` is a
    valid level-alpha decision at any look (see :func:`msprt_p_value`). ``tau`` is
    frozen on the first look (:func:`default_tau` of that look's control mean and
    ``mde_relative`` when not given) so it is never re-tuned on later data; looks
    before the control mean is non-zero are skipped (p stays 1), which cannot hurt
    validity. A larger ``mde_relative`` (a larger effect worth detecting) stops sooner
    on large effects and later on small ones; the error rate is alpha at most either way.
    """

    tau: float | None = None
    #: The relative minimum detectable effect ``tau`` is derived from (when not given).
    mde_relative: float = DEFAULT_MDE_RELATIVE
    p: float = 1.0
    looks: int = field(default=0)

    def update(self, treatment: Summary, control: Summary) -> float:
        """Fold in one look of cumulative summaries and return the always-valid p."""
        if self.tau is None:
            if control.n < 1 or not abs(control.mean) > 0.0:
                return self.p
            self.tau = default_tau(control.mean, self.mde_relative)
        self.looks += 1
        self.p = min(self.p, msprt_p_value(treatment, control, self.tau))
        return self.p


def srm_p_value(observed_counts: Sequence[int], expected_shares: Sequence[float]) -> float:
    """P-value of a sample-ratio mismatch: Pearson's chi-square goodness-of-fit test.

    Method: ``scipy.stats.chisquare`` of the observed arm sizes against
    ``total * share`` (shares are normalised to sum to one, so weights such as
    ``[1, 1]`` work), ``len(arms) - 1`` degrees of freedom. Assumes shoppers are
    assigned independently with the given probabilities; valid when every expected
    count is at least about 5. Flag the experiment when the result is below
    :data:`SRM_ALPHA`. Returns 1.0 when nothing has been observed yet.
    """
    obs = np.asarray(observed_counts, dtype=np.float64)
    shares = np.asarray(expected_shares, dtype=np.float64)
    if obs.ndim != 1 or obs.shape != shares.shape or obs.size < 2:
        raise ValueError("need one observed count and one expected share per arm, >= 2 arms")
    if (obs < 0).any() or not (shares > 0).all():
        raise ValueError("counts must be non-negative and shares positive")
    total = float(obs.sum())
    if total == 0.0:
        return 1.0
    expected = total * shares / shares.sum()
    return float(sps.chisquare(obs, expected).pvalue)


def sample_size(
    baseline_mean: float,
    baseline_sd: float,
    mde_relative: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Shoppers per arm for a fixed-horizon, two-sided z test of equal means.

    Method: ``n = 2 (z_{1-alpha/2} + z_{power})² sd² / delta²`` with
    ``delta = mde_relative * |baseline_mean|``, rounded up; equal arms with the
    baseline standard deviation in both. At alpha = 0.05 and power = 0.8 the factor
    ``(z_{0.975} + z_{0.8})² ≈ 7.85``, i.e. Lehr's rule ``n ≈ 16 sd² / delta²``.
    For comparison and planning only: the result holds only if the report is read once,
    at this sample size.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    delta = abs(mde_relative * baseline_mean)
    if not delta > 0.0 or not baseline_sd >= 0.0:
        raise ValueError("need a non-zero effect (mde_relative * baseline_mean) and sd >= 0")
    factor = (_z(alpha) + float(sps.norm.ppf(power))) ** 2
    return max(1, math.ceil(2.0 * factor * baseline_sd**2 / delta**2))
