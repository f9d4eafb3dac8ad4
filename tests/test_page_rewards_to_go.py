"""AppTest of the rewards-to-go page: the R̂ shown is ppo_core.rewards_to_go on the same seeded
rollout, for the γ set; the step-through reveals exactly k rows; the three bootstrap cases."""


import numpy as np
import pandas as pd
import pytest

from ppo_core import rewards_to_go
from conftest import named_datasets, table_reference_rollout as reference_rollout

PAGE = "lessons/rewards_to_go.py"
ROWS = 24


def reference_rtg(rollout, gamma):
    return rewards_to_go(
        rollout.rewards[:, 0],
        rollout.dones[:, 0],
        gamma,
        float(rollout.last_value[0]),
        truncated=rollout.truncated[:, 0],
        final_values=rollout.final_values[:, 0],
    )


@pytest.fixture(scope="module")
def cartpole():
    return reference_rollout("cartpole")


@pytest.fixture(scope="module")
def pendulum():
    return reference_rollout("pendulum-discrete")


def table(at) -> pd.DataFrame:
    return at.dataframe[0].value  # the page has one table


def test_rewards_to_go_follow_gamma(at, cartpole):
    shown = table(at)
    assert len(shown) == ROWS
    np.testing.assert_array_equal(shown["r_t"], cartpole.rewards[:, 0])
    np.testing.assert_allclose(shown["R̂_t"], reference_rtg(cartpole, 0.98), rtol=0, atol=1e-12)  # the preset's γ
    for gamma in (0.9, 0.5):
        at.slider(key="rtg_gamma").set_value(gamma).run()
        assert not at.exception
        np.testing.assert_allclose(table(at)["R̂_t"], reference_rtg(cartpole, gamma), rtol=0, atol=1e-12)
    assert not np.allclose(reference_rtg(cartpole, 0.9), reference_rtg(cartpole, 0.5))


def test_default_cartpole_table_shows_all_three_endings(at, cartpole):
    shown = table(at)
    cases = shown["after this step"]
    terminated = np.flatnonzero(cases == "nothing (terminated)")
    cut = np.flatnonzero(cases == "V(final obs) (time limit)")
    assert len(terminated) >= 1 and len(cut) >= 1 and cases.iloc[-1] == "V(s_T) (batch ends)"
    assert terminated.tolist() == np.flatnonzero(cartpole.terminated[:, 0]).tolist()
    assert cut.tolist() == np.flatnonzero(cartpole.truncated[:, 0]).tolist()
    for t in cut:
        v_final = float(cartpole.final_values[t, 0])
        assert shown["bootstrap value"].iloc[t] == pytest.approx(v_final, abs=1e-12)
        assert shown["R̂_t"].iloc[t] == pytest.approx(cartpole.rewards[t, 0] + 0.98 * v_final, abs=1e-12)
    notes = at.markdown[-1].value  # "In this table": the rows of each case, in words
    assert f"**Termination** after step {', '.join(map(str, terminated))}" in notes
    assert f"**Time limit** after step {', '.join(map(str, cut))}" in notes and "pole was still up" in notes
    assert f"**End of the batch** after step {ROWS - 1}" in notes


def test_termination_and_batch_end_on_cartpole(at, cartpole):
    shown = table(at)
    terminated = np.flatnonzero(cartpole.terminated[:, 0])
    assert len(terminated) >= 1, "the default CartPole table should show a termination"
    t = terminated[0]
    assert shown["terminated"].iloc[t] and shown["after this step"].iloc[t] == "nothing (terminated)"
    assert shown["bootstrap value"].iloc[t] == 0.0
    assert shown["R̂_t"].iloc[t] == pytest.approx(cartpole.rewards[t, 0])  # no bootstrap after a termination
    # The batch's last row bootstraps from the critic's value of s_T.
    assert shown["after this step"].iloc[-1] == "V(s_T) (batch ends)"
    assert shown["bootstrap value"].iloc[-1] == pytest.approx(float(cartpole.last_value[0]), abs=1e-12)
    assert shown["R̂_t"].iloc[-1] == pytest.approx(cartpole.rewards[-1, 0] + 0.98 * float(cartpole.last_value[0]), abs=1e-12)
    # Rows that continue take the next row's R̂; their bootstrap cell is empty.
    middle = [i for i in range(ROWS - 1) if not cartpole.dones[i, 0]]
    assert shown["bootstrap value"].iloc[middle].isna().all()
    # Warm-up updates trained the critic: V is well away from 0.
    assert abs(float(cartpole.last_value[0])) > 1.0


def test_step_through_reveals_exactly_k_rows(at, cartpole):
    full = reference_rtg(cartpole, 0.98)
    for k in (0, 1, 7, ROWS):
        at.slider(key="rtg_computed").set_value(k).run()
        assert not at.exception
        rtg = table(at)["R̂_t"].to_numpy(dtype=float)
        revealed = ~np.isnan(rtg)
        assert revealed.sum() == k
        assert revealed[ROWS - k :].all()  # filled from the end
        np.testing.assert_allclose(rtg[revealed], full[ROWS - k :], rtol=0, atol=1e-12)
        marker = table(at)["pass"]
        assert (marker != "").sum() == (1 if k else 0)
        if k:
            assert marker.iloc[ROWS - k] == "◀ now"
            assert at.latex[-1].value.lstrip("$\n").startswith(rf"\hat R_{{{ROWS - k}}}")
        else:
            assert "start the backward pass" in at.info[0].value
        lines = named_datasets(at.get("vega_lite_chart")[0])["lines"]
        assert len(lines) == k
        np.testing.assert_allclose(np.sort(lines["value"]), np.sort(full[ROWS - k :]), rtol=0, atol=1e-12)


def test_chart_data_is_the_table(at, cartpole):
    data = named_datasets(at.get("vega_lite_chart")[0])
    bars, lines, events = data["bars"], data["lines"], data["events"]
    np.testing.assert_array_equal(bars.sort_values("t")["value"], cartpole.rewards[:, 0])
    np.testing.assert_allclose(lines.sort_values("t")["value"], reference_rtg(cartpole, 0.98), rtol=0, atol=1e-12)
    ended = np.flatnonzero(cartpole.dones[:, 0])
    np.testing.assert_array_equal(events["t"], ended + 0.5)
    assert set(events["series"]) == {"terminated", "truncated (time limit)"}


def test_time_limit_bootstraps_on_pendulum(at, pendulum):
    at.selectbox(key="rtg_env").set_value("pendulum-discrete").run()
    assert not at.exception
    assert at.slider(key="rtg_gamma").value == pytest.approx(0.95)  # the preset's γ comes with it
    shown = table(at)
    np.testing.assert_array_equal(shown["r_t"], pendulum.rewards[:, 0])
    assert np.flatnonzero(shown["truncated"]).tolist() == [15] == np.flatnonzero(pendulum.truncated[:, 0]).tolist()
    assert not shown["terminated"].any()
    v_final = float(pendulum.final_values[15, 0])
    assert abs(v_final) > 1.0  # the critic's value, not an untrained ~0
    assert shown["after this step"].iloc[15] == "V(final obs) (time limit)"
    assert shown["bootstrap value"].iloc[15] == pytest.approx(v_final, abs=1e-12)
    assert shown["R̂_t"].iloc[15] == pytest.approx(pendulum.rewards[15, 0] + 0.95 * v_final, abs=1e-12)
    np.testing.assert_allclose(shown["R̂_t"], reference_rtg(pendulum, 0.95), rtol=0, atol=1e-12)
    at.slider(key="rtg_gamma").set_value(0.8).run()
    np.testing.assert_allclose(table(at)["R̂_t"], reference_rtg(pendulum, 0.8), rtol=0, atol=1e-12)
    events = named_datasets(at.get("vega_lite_chart")[0])["events"]
    assert events["t"].tolist() == [15.5] and events["series"].tolist() == ["truncated (time limit)"]


def test_predict_then_reveal(at):
    assert not at.success and not at.warning
    at.radio(key="predict/rtg").set_value("1/(1 − γ)").run()
    assert at.warning and "Exactly 1" in at.warning[0].value
    at.radio(key="predict/rtg").set_value("Exactly 1").run()
    assert at.success and at.success[0].value.startswith("Right")
