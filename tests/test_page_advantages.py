"""AppTest of the advantages page: GAE shown for the λ set is ppo_core.gae on the same rollout,
λ = 1 is R̂ − V, λ = 0 is δ, and normalisation flags exactly the rows whose sign it changes."""


import numpy as np
import pandas as pd
import pytest

from ppo_core import PRESETS, gae, normalize_advantages, rewards_to_go, td_errors
from conftest import named_datasets, table_reference_rollout

PAGE = "lessons/advantages.py"
ROWS = 24


class Reference:
    """The page's rollout rebuilt here, and ppo_core's estimators on it."""

    def __init__(self, preset: str, warmup: int | None = None, seed: int = 0):
        self.rollout = r = table_reference_rollout(preset, seed, warmup)
        self.rewards, self.values, self.dones = r.rewards[:, 0], r.values[:, 0], r.dones[:, 0]
        self.last = float(r.last_value[0])
        self.tail = {"truncated": r.truncated[:, 0], "final_values": r.final_values[:, 0]}

    def rtg(self, gamma):
        return rewards_to_go(self.rewards, self.dones, gamma, self.last, **self.tail)

    def delta(self, gamma):
        return td_errors(self.rewards, self.values, self.dones, gamma, self.last, **self.tail)

    def gae(self, gamma, lam):
        return gae(self.rewards, self.values, self.dones, gamma, lam, self.last, **self.tail)


@pytest.fixture(scope="module")
def cartpole():
    return Reference("cartpole")


def table(at) -> pd.DataFrame:
    return at.dataframe[0].value  # the page has one table


def gae_column(shown: pd.DataFrame) -> pd.Series:
    (name,) = [c for c in shown.columns if c.startswith("GAE A_t")]
    return shown[name]


def test_lambda_limits_are_delta_and_rtg_minus_v(at, cartpole):
    gamma, lam = PRESETS["cartpole"].gamma, PRESETS["cartpole"].gae_lambda  # the page's defaults
    shown = table(at)
    np.testing.assert_allclose(shown["V(s_t)"], cartpole.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(shown["R̂_t"], cartpole.rtg(gamma), rtol=0, atol=1e-12)
    np.testing.assert_allclose(shown["R̂_t − V(s_t)"], cartpole.rtg(gamma) - cartpole.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(shown["δ_t"], cartpole.delta(gamma), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gae_column(shown), cartpole.gae(gamma, lam), rtol=0, atol=1e-12)  # preset λ

    at.slider(key="adv_lambda").set_value(1.0).run()
    shown = table(at)
    assert gae_column(shown).name == "GAE A_t (λ=1.00)"
    np.testing.assert_allclose(gae_column(shown), cartpole.rtg(gamma) - cartpole.values, rtol=0, atol=1e-9)
    at.slider(key="adv_lambda").set_value(0.0).run()
    np.testing.assert_allclose(gae_column(table(at)), cartpole.delta(gamma), rtol=0, atol=1e-12)
    # The two limits really differ on this rollout, so the checks above are not the same check.
    assert np.abs(cartpole.delta(gamma) - (cartpole.rtg(gamma) - cartpole.values)).max() > 1.0

    assert [(m.label, m.value) for m in at.metric] == [
        ("GAE at λ = 0 vs the TD error δ_t", "agree"),
        ("GAE at λ = 1 vs R̂_t − V(s_t)", "agree"),
    ]


def test_gamma_and_lambda_in_between(at, cartpole):
    at.slider(key="adv_gamma").set_value(0.9).run()
    at.slider(key="adv_lambda").set_value(0.5).run()
    shown = table(at)
    np.testing.assert_allclose(gae_column(shown), cartpole.gae(0.9, 0.5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(shown["δ_t"], cartpole.delta(0.9), rtol=0, atol=1e-12)
    assert not np.allclose(gae_column(shown), cartpole.delta(0.9))
    assert not np.allclose(gae_column(shown), cartpole.rtg(0.9) - cartpole.values)
    bars = named_datasets(at.get("vega_lite_chart")[1])["bars"]
    np.testing.assert_allclose(bars.sort_values("t")["value"], cartpole.gae(0.9, 0.5), rtol=0, atol=1e-12)


def test_normalisation_flags_sign_flips(at, cartpole):
    assert "normalised A_t" not in table(at).columns
    at.toggle(key="adv_normalize").set_value(True).run()
    assert not at.exception
    shown = table(at)
    adv = cartpole.gae(PRESETS["cartpole"].gamma, PRESETS["cartpole"].gae_lambda)
    normalized = normalize_advantages(adv)
    np.testing.assert_allclose(shown["normalised A_t"], normalized, rtol=0, atol=1e-12)
    flipped = np.sign(normalized) != np.sign(adv)
    assert flipped.any(), "the default rollout should show a sign flip"
    np.testing.assert_array_equal(shown["sign flipped"], flipped)
    # Exactly the rows between 0 and the mean flip.
    mean = adv.mean()
    np.testing.assert_array_equal(flipped, (np.minimum(0, mean) < adv) & (adv < np.maximum(0, mean)))
    assert at.warning and all(f" {t}" in at.warning[0].value for t in np.flatnonzero(flipped))
    lines = named_datasets(at.get("vega_lite_chart")[1])["lines"]
    shown_normalized = lines[lines["series"] == "normalised A_t"].sort_values("t")["value"]
    np.testing.assert_allclose(shown_normalized, normalized, rtol=0, atol=1e-12)


def test_critic_training_changes_v(at):
    untrained = Reference("cartpole", warmup=0)
    at.select_slider(key="adv_warmup").set_value(0).run()
    assert not at.exception
    shown = table(at)
    np.testing.assert_allclose(shown["V(s_t)"], untrained.values, rtol=0, atol=1e-12)
    assert np.abs(untrained.values).max() < 1.0  # an untrained critic says ~0 everywhere
    fit = named_datasets(at.get("vega_lite_chart")[0])["lines"]
    v_line = fit[fit["series"] == "critic V(s_t)"].sort_values("t")["value"]
    np.testing.assert_allclose(v_line, untrained.values, rtol=0, atol=1e-12)


def test_pendulum_time_limit(at):
    pendulum = Reference("pendulum-discrete")
    at.selectbox(key="adv_env").set_value("pendulum-discrete").run()
    assert not at.exception
    assert at.slider(key="adv_gamma").value == pytest.approx(0.95)
    assert at.slider(key="adv_lambda").value == pytest.approx(0.95)
    shown = table(at)
    assert np.flatnonzero(shown["truncated"]).tolist() == [15]
    np.testing.assert_allclose(gae_column(shown), pendulum.gae(0.95, 0.95), rtol=0, atol=1e-12)
    # At the cut, δ bootstraps from V(final obs), not from the next row's (new episode's) V.
    v_final = float(pendulum.rollout.final_values[15, 0])
    expected = pendulum.rewards[15] + 0.95 * v_final - pendulum.values[15]
    assert shown["δ_t"].iloc[15] == pytest.approx(expected, abs=1e-12)


def test_predict_then_reveal(at):
    at.radio(key="predict/adv_norm").set_value("None: dividing by a positive number keeps every sign").run()
    assert at.warning and "between 0 and the mean" in at.warning[0].value
    at.radio(key="predict/adv_norm").set_value("Those whose advantage lies between 0 and the mean").run()
    assert at.success and at.success[0].value.startswith("Right")
