"""ppo_core.lesson's importance-sampling experiment: the exact variance of its estimate against its
closed form, a numerical integral and a large Monte-Carlo sample; the sampled variance against
the variance of the estimates it returns."""

import numpy as np
import pytest

from ppo_core.lesson import importance_sampling, importance_sampling_sweep, importance_sampling_variance

SHIFTS = np.arange(13) * 0.25  # the page's sweep, 0 to 3


def closed_form(s: float, n: int) -> float:
    return (np.exp(s**2) * (1 + 4 * s**2) - s**2) / n


@pytest.mark.parametrize("shift", SHIFTS)
def test_exact_variance_is_the_closed_form(shift):
    assert importance_sampling_variance(shift, 200) == closed_form(shift, 200)
    assert importance_sampling(shift)["analytic_variance"] == closed_form(shift, 200)
    assert importance_sampling_variance(shift, 50) == closed_form(shift, 50)


@pytest.mark.parametrize("shift", SHIFTS)
def test_exact_variance_is_the_integral_it_stands_for(shift):
    # Var of one weighted sample w(x)·x, x ~ p = N(0, 1), w = q/p, q = N(shift, 1), integrated
    # numerically on a fine grid: no algebra from the derivation is reused.
    x = np.linspace(-20.0, 30.0, 500_001)
    p = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    q = np.exp(-((x - shift) ** 2) / 2) / np.sqrt(2 * np.pi)
    w = q / p
    mean = np.trapezoid(p * w * x, x)
    second = np.trapezoid(p * (w * x) ** 2, x)
    assert mean == pytest.approx(shift, abs=1e-9)  # unbiased
    assert importance_sampling_variance(shift, 200) == pytest.approx((second - mean**2) / 200, rel=1e-8)


@pytest.mark.parametrize("shift", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_near_p_a_large_sample_agrees_with_the_exact_variance(shift):
    # 20,000 estimates instead of the page's 200: close to p the weights' tails are light enough
    # for a sample of that size to find the variance within a few per cent.
    big = importance_sampling(shift, trials=20_000, seed=1)
    assert big["sampled_variance"] == pytest.approx(big["analytic_variance"], rel=0.05)


@pytest.mark.parametrize("shift", [0.0, 1.0, 2.0, 3.0])
def test_sampled_variance_is_the_variance_of_the_estimates(shift):
    out = importance_sampling(shift)
    assert out["estimates"].shape == (200,)
    assert out["sampled_variance"] == pytest.approx(np.var(out["estimates"], ddof=1), rel=1e-12)


def test_far_from_p_the_sample_falls_short_of_the_exact_variance():
    # The reason the page shows both: at shift 3 the 200 estimates miss most of the variance.
    out = importance_sampling(3.0)
    assert out["analytic_variance"] == pytest.approx(1499.03, abs=0.01)
    assert out["sampled_variance"] < out["analytic_variance"] / 5


def test_sweep_is_the_experiment_at_each_shift():
    sweep = importance_sampling_sweep(SHIFTS)
    np.testing.assert_array_equal(sweep["shift"], SHIFTS)
    for i, shift in enumerate(SHIFTS):
        one = importance_sampling(shift)
        assert sweep["analytic_variance"][i] == one["analytic_variance"]
        assert sweep["sampled_variance"][i] == one["sampled_variance"]
    assert np.all(np.diff(sweep["analytic_variance"]) > 0)
    # log Var = shift² + log(1 + 4 shift²) − log n (nearly): convex, bending upward on a log axis
    assert np.all(np.diff(np.log(sweep["analytic_variance"]), 2) > 0)
