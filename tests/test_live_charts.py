"""The live page's pure pieces (issue 13): the objective a run trains, the latest batch drawn on
it, the diagnostics' names (β, σ per action dimension) and the runs' colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ppo_core import clipped_objective, surrogate_objective
from ui.charts import KL_KEY, RUN_COLORS, batch_objective_charts, run_color_scale
from ui.report import diagnostics_frame

RATIO = np.array([0.5, 0.9, 1.0, 1.1, 1.6])
ADV = np.array([1.0, -2.0, 0.5, 1.0, -1.0])


def test_each_objective_is_its_formula_in_numpy_and_torch():
    kl = (RATIO - 1) - np.log(RATIO)  # the per-sample estimate, written out
    expected = {
        "clip": np.minimum(RATIO * ADV, np.clip(RATIO, 0.8, 1.2) * ADV),
        "none": RATIO * ADV,
        "kl_penalty": RATIO * ADV - 0.5 * kl,
    }
    for objective, want in expected.items():
        got = surrogate_objective(objective, RATIO, ADV, eps=0.2, beta=0.5)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        t = surrogate_objective(objective, torch.tensor(RATIO), torch.tensor(ADV), eps=0.2, beta=0.5,
                                log_ratio=torch.log(torch.tensor(RATIO)))
        assert isinstance(t, torch.Tensor)
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-12)


def test_an_unknown_objective_names_the_allowed_ones():
    with pytest.raises(ValueError, match="objective: must be one of clip, kl_penalty, none; got 'trust_region'"):
        surrogate_objective("trust_region", RATIO, ADV, eps=0.2)


def test_a_kl_batch_sits_on_its_curve_at_unit_advantage_and_below_it_for_smaller_ones():
    ratio = np.array([0.8, 1.0, 1.25, 0.9, 1.1])
    adv = np.array([1.0, 1.0, 1.0, 0.25, -1.0])
    charts = batch_objective_charts(ratio, adv, "kl_penalty", 0.2, beta=2.0)
    lines, points = (pd.DataFrame(charts[1.0]["datasets"][k]) for k in ("lines", "points"))
    curve = lines[lines["curve"] == KL_KEY]
    on_curve = np.interp(points["ratio"], curve["ratio"], curve["objective"])
    unit = points.index[:3]  # |Â| = 1: exactly on L^KLPEN for Â = 1
    np.testing.assert_allclose(points["objective"][unit], on_curve[unit], atol=1e-3)
    assert points["objective"][3] < on_curve[3] - 0.01  # |Â| = 0.25: its penalty weighs four times as much
    assert list(pd.DataFrame(charts[-1.0]["datasets"]["points"])["ratio"]) == [1.1]
    assert charts[1.0]["usermeta"] == {"below_axis": 0, "objective": "kl_penalty"}


def test_a_kl_curve_that_leaves_the_batch_chart_is_cut_and_marked_on_the_edge():
    # β = 5: near r = 0 the penalty β·((r − 1) − log r) grows without bound, far below the batch
    charts = batch_objective_charts(np.array([0.9, 1.0, 1.1]), np.ones(3), "kl_penalty", 0.2, beta=5.0)
    spec = charts[1.0]
    lo, hi = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    lines, marks = (pd.DataFrame(spec["datasets"][k]) for k in ("lines", "off_scale"))
    curve = lines[lines["curve"] == KL_KEY]
    assert curve["objective"].between(lo, hi).all()  # nothing drawn flat along the edge
    assert len(marks) == 1 and marks["objective"].tolist() == [lo] and marks["direction"].str.endswith("▼").all()
    assert marks["ratio"].iloc[0] == pytest.approx(curve["ratio"].min())  # where the drawn curve stops


def test_a_clipped_batch_is_l_clip_per_unit_advantage():
    charts = batch_objective_charts(RATIO, ADV, "clip", 0.2)
    points = pd.DataFrame(charts[-1.0]["datasets"]["points"])
    np.testing.assert_allclose(points["objective"], clipped_objective(RATIO[ADV < 0], -1.0, 0.2))


@pytest.mark.parametrize("objective, beta, words", [("kl_penalty", None, "beta: the KL-penalty objective needs"), ("ppo2", 1.0, "objective: must be one of")])
def test_a_batch_chart_without_what_it_needs_says_what(objective, beta, words):
    with pytest.raises(ValueError, match=words):
        batch_objective_charts(RATIO, ADV, objective, 0.2, beta=beta)


def test_the_diagnostics_name_beta_and_each_action_dimensions_sigma():
    metrics = pd.DataFrame({"run": "a", "global_step": [256, 512], "approx_kl": [0.01, 0.02], "kl_beta": [1.0, 2.0],
                            "std": [0.75, 0.7], "std_0": [1.0, 0.9], "std_1": [0.5, 0.5]})
    long = diagnostics_frame(metrics)
    assert list(dict.fromkeys(long["metric"])) == ["approx KL", "KL penalty β", "policy σ, action 1", "policy σ, action 2"]
    assert list(long[long["metric"] == "policy σ, action 2"]["value"]) == [0.5, 0.5]
    one_dim = diagnostics_frame(metrics.drop(columns=["std_0", "std_1"]))
    assert list(one_dim[one_dim["metric"] == "policy σ"]["value"]) == [0.75, 0.7]


def test_each_run_has_its_own_colour_blind_safe_colour():
    assert run_color_scale(["b", "a", "b", "c"]) == {"domain": ["b", "a", "c"], "range": RUN_COLORS[:3]}
    assert len(set(RUN_COLORS)) == len(RUN_COLORS) and "#F0E442" not in RUN_COLORS  # Okabe–Ito without its pale yellow
    many = run_color_scale([str(i) for i in range(len(RUN_COLORS) + 1)])
    assert many["range"][-1] == RUN_COLORS[0]
