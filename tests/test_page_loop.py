"""AppTest of the loop page: the transcript is a real untrained rollout, and the importance-sampling
experiment shows ppo_core.lesson.importance_sampling's numbers for the shift set."""

import numpy as np
import pandas as pd

from conftest import named_datasets
from ppo_core.lesson import (
    importance_sampling,
    importance_sampling_sweep,
    lesson_rollout,
    lesson_trainer,
)

PAGE = "lessons/loop.py"


def untrained(preset: str, seed: int, steps: int = 30):
    trainer = lesson_trainer(preset, seed=seed, warmup_updates=0, num_envs=1)
    rollout = lesson_rollout(trainer, steps)
    trainer.close()
    return rollout


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def assert_transcript(shown: pd.DataFrame, rollout, rows: int) -> None:
    assert len(shown) == rows
    obs = rollout.obs[:rows, 0].numpy()
    state_cols = [c for c in shown.columns if c.startswith("s_t[")]
    assert len(state_cols) == obs.shape[1]
    np.testing.assert_array_equal(shown[state_cols].to_numpy(dtype=np.float32), obs)
    np.testing.assert_array_equal(shown["a_t"], rollout.actions[:rows, 0].numpy())
    np.testing.assert_array_equal(shown["r_t"], rollout.rewards[:rows, 0])
    log_probs = rollout.log_probs[:rows, 0].numpy().astype(np.float64)
    np.testing.assert_allclose(shown["log π(a_t|s_t)"], log_probs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(shown["π(a_t|s_t)"], np.exp(log_probs), rtol=0, atol=1e-12)


def test_transcript_is_an_untrained_rollout(at):
    assert_transcript(at.dataframe[0].value, untrained("cartpole", 0), 10)
    # An untrained CartPole policy picks each of its two actions with probability close to 1/2.
    assert np.allclose(at.dataframe[0].value["π(a_t|s_t)"], 0.5, atol=0.05)
    at.slider(key="loop_steps").set_value(4).run()
    assert_transcript(at.dataframe[0].value, untrained("cartpole", 0), 4)
    at.selectbox(key="loop_env").set_value("pendulum-discrete").run()
    at.number_input(key="loop_seed").set_value(3).run()
    assert not at.exception
    assert_transcript(at.dataframe[0].value, untrained("pendulum-discrete", 3), 4)
    assert np.allclose(at.dataframe[0].value["π(a_t|s_t)"], 0.2, atol=0.05)  # five torques


def test_importance_sampling_follows_the_shift(at):
    for shift in (0.0, 2.0):
        at.slider(key="is_shift").set_value(shift).run()
        assert not at.exception
        ref = importance_sampling(shift)
        assert metric(at, "true value E_q[x]") == f"{shift:.2f}"
        assert metric(at, "mean of the 200 estimates") == f"{ref['mean_estimate']:.3f}"
        assert metric(at, "exact variance") == f"{ref['analytic_variance']:.3g}"
        assert metric(at, "sampled variance") == f"{ref['sampled_variance']:.3g}"
        assert metric(at, "largest weight's share") == f"{ref['max_weight_share']:.1%}"
        weights, histogram, sweep = (named_datasets(c) for c in at.get("vega_lite_chart"))  # in page order
        points = weights["points"]
        np.testing.assert_allclose(points["x"], ref["samples"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(points["weight"], ref["weights"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(histogram["values"]["value"], ref["estimates"], rtol=0, atol=1e-12)
        assert histogram["rule"]["value"].tolist() == [shift]
        assert sweep["highlight"]["shift"].tolist() == [shift]
    # At shift 0 every weight is exactly 1; at shift 2 the spread has exploded.
    assert np.all(importance_sampling(0.0)["weights"] == 1.0)
    assert importance_sampling(2.0)["sampled_variance"] > 100 * importance_sampling(0.0)["sampled_variance"]
    assert importance_sampling(2.0)["analytic_variance"] > 100 * importance_sampling(0.0)["analytic_variance"]


def test_variance_curves_are_the_sweep_exact_and_sampled(at):
    chart = at.get("vega_lite_chart")[2]
    sweep = named_datasets(chart)
    ref = importance_sampling_sweep(np.arange(13) * 0.25)
    np.testing.assert_allclose(sweep["series"]["shift"], ref["shift"])
    # The legend names each curve by its column: the formula's and the 200 estimates'.
    np.testing.assert_allclose(sweep["series"]["exact (formula)"], ref["analytic_variance"], rtol=1e-12)
    np.testing.assert_allclose(sweep["series"]["sampled (200 estimates)"], ref["sampled_variance"], rtol=1e-12)
    assert np.all(np.diff(ref["sampled_variance"]) > 0)  # it only grows as q moves away
    assert np.all(np.diff(ref["analytic_variance"]) > 0)
    assert '"type": "log"' in chart.proto.spec and "exact (formula)" in chart.proto.spec
    caption = next(c.value for c in at.caption if c.value.startswith("The variance of an estimate at every shift"))
    assert f"{ref['sampled_variance'][-1]:,.0f} against {ref['analytic_variance'][-1]:,.0f} at shift 3" in caption


def test_predict_then_reveal(at):
    at.radio(key="predict/loop_is").set_value("About ×2").run()
    assert at.warning and "Far more than ×4" in at.warning[0].value
    at.radio(key="predict/loop_is").set_value("Far more than ×4").run()
    assert at.success and at.success[0].value.startswith("Right")
    ref = importance_sampling_sweep([1.0, 2.0])
    exact, sampled = ref["analytic_variance"], ref["sampled_variance"]
    # the question now comes before the experiment, so its explanation is not the last text
    assert any(f"the exact variance goes from {exact[0]:.3g} to {exact[1]:.3g}, about ×{exact[1] / exact[0]:.0f}" in m.value for m in at.markdown)
    assert any(f"{sampled[0]:.3g} and {sampled[1]:.3g}" in m.value for m in at.markdown)
