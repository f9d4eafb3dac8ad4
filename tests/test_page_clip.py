"""AppTest of the clipped-objective page: values shown follow the sliders, charts carry ppo_core's numbers."""

import json

import numpy as np
import pytest

from ppo_core import adaptive_beta, clipped_objective
from ppo_core.lesson import objective_curves
from conftest import chart_datasets, named_datasets

PAGE = "lessons/clipped_objective.py"


def metrics(at):
    return [(m.label, m.value) for m in at.metric]


def chart_specs(at):
    return chart_datasets(at)


def chart_values(chart):
    """All rows of all datasets of one chart, as dicts."""
    spec, frames = chart
    rows = []
    for df in frames:
        rows += df.to_dict("records")
    return rows


def test_worked_examples_at_eps_0_1(at):
    at.slider(key="clip_eps").set_value(0.1).run()
    table = at.dataframe[0].value
    assert list(table["L^CLIP"].round(6)) == [0.55, -0.45]
    assert list(table["gradient"]) == ["zero (clipped)", "zero (clipped)"]
    at.slider(key="clip_eps").set_value(0.3).run()
    table = at.dataframe[0].value
    # the notebook's examples stay at its ε = 0.1, where they show the clip at work ...
    assert list(table["L^CLIP"].round(6)) == [0.55, -0.45]
    assert list(table["gradient"]) == ["zero (clipped)", "zero (clipped)"]
    # ... and beside them at the slider's ε, inside the wider range: r·Â
    assert list(table["L^CLIP at the ε above"].round(6)) == [0.6, -0.4]
    assert list(table["gradient at the ε above"]) == ["flows", "flows"]


def test_probe_readout_follows_the_sliders(at):
    at.slider(key="clip_eps").set_value(0.2).run()
    at.slider(key="clip_adv").set_value(0.5).run()
    at.slider(key="clip_probe").set_value(1.5).run()
    shown = metrics(at)
    # A > 0 column first: r·A = 0.75, clip(r)·A = 0.6, min = 0.6; then A < 0: -0.75, -0.6, min -0.75
    assert shown[:6] == [
        ("r·Â", "+0.750"), ("clip(r)·Â", "+0.600"), ("L^CLIP = min", "+0.600"),
        ("r·Â", "-0.750"), ("clip(r)·Â", "-0.600"), ("L^CLIP = min", "-0.750"),
    ]
    assert "clip binds" in at.warning[0].value and "gradient flows" in at.success[0].value
    at.slider(key="clip_probe").set_value(0.5).run()
    assert [m[1] for m in metrics(at)[:6]] == ["+0.250", "+0.400", "+0.250", "-0.250", "-0.400", "-0.400"]


def test_clip_chart_data_is_ppo_core_clipped_objective(at):
    at.slider(key="clip_eps").set_value(0.25).run()
    at.slider(key="clip_adv").set_value(1.5).run()
    specs = chart_specs(at)
    assert len(specs) == 4  # two clip plots, two KL-penalty plots
    for spec, adv in zip(specs[:2], (1.5, -1.5)):
        rows = [r for r in chart_values(spec) if r.get("curve", "").startswith("L^CLIP")]
        r = np.array([row["ratio"] for row in rows])
        y = np.array([row["objective"] for row in rows])
        np.testing.assert_allclose(y, clipped_objective(r, adv, 0.25), atol=1e-9)
        spans = [row for row in chart_values(spec) if "start" in row]
        assert len(spans) == 1
        if adv > 0:
            assert spans[0]["start"] == pytest.approx(1.25, abs=0.006) and spans[0]["end"] == pytest.approx(2.0)
        else:
            assert spans[0]["start"] == pytest.approx(0.0) and spans[0]["end"] == pytest.approx(0.75, abs=0.006)
        title = spec[0]["title"]
        assert ("Â > 0" if adv > 0 else "Â < 0") in (title["text"] if isinstance(title, dict) else title)
        # the band is named in a legend, not told by its colour alone
        band = next(layer for layer in spec[0]["layer"] if layer["data"]["name"] == "spans")
        assert band["encoding"]["fill"]["scale"]["domain"] == ["gradient is zero (clipped)"]
        assert band["encoding"]["fill"]["legend"] is not None


def test_kl_penalty_curve_and_adaptive_beta(at):
    at.slider(key="clip_beta").set_value(2.0).run()
    spec = chart_specs(at)[2]
    kl_rows = [r for r in chart_values(spec) if r.get("curve", "").startswith("L^KLPEN")]
    r = np.array([row["ratio"] for row in kl_rows])
    y = np.array([row["objective"] for row in kl_rows])
    np.testing.assert_allclose(y, r * 1.0 - 2.0 * ((r - 1) - np.log(r)), atol=1e-9)
    at.number_input(key="clip_kl_target").set_value(0.01).run()
    at.number_input(key="clip_kl_measured").set_value(0.02).run()
    assert metrics(at)[-1] == ("β for the next update", f"{adaptive_beta(2.0, 0.02, 0.01):.3g}")
    at.number_input(key="clip_kl_measured").set_value(0.005).run()
    assert metrics(at)[-1][1] == "1"


def test_predict_then_reveal(at):
    assert not at.success or all("gradient flows" in s.value for s in at.success)
    at.radio(key="predict/clip").set_value("No, the clip stops its gradient").run()
    assert any(s.value.startswith("Right") for s in at.success)


def test_kl_penalty_values_off_the_scale_are_marked_not_drawn_on_the_edge(at):
    """At a large β the penalised curve falls far below the y range (set by L^CLIP and rÂ): its
    line stops inside the range and a triangle on the edge marks where it leaves, instead of the
    clamped values running flat along the edge like a zero-gradient plateau."""
    at.slider(key="clip_beta").set_value(5.0).run()
    for element in list(at.get("vega_lite_chart"))[2:4]:
        spec, datasets = json.loads(element.proto.spec), named_datasets(element)
        y_lo, y_hi = next(l["encoding"]["y"]["scale"]["domain"] for l in spec["layer"] if l["data"]["name"] == "lines")
        kl = datasets["lines"][datasets["lines"]["curve"].str.startswith("L^KLPEN")]
        assert kl["objective"].between(y_lo, y_hi).all()
        r = kl["ratio"].to_numpy()
        adv = 1.0 if "Â > 0" in spec["title"] else -1.0
        np.testing.assert_allclose(kl["objective"], r * adv - 5.0 * ((r - 1) - np.log(r)), atol=1e-9)
        marks = datasets["off_scale"]
        # where ppo_core's full curve (r from 0.05 to 2) leaves the range, one ▼ on the lower edge
        # at the last ratio drawn before it: here always at the small ratios, at the large ones
        # only where the penalty outgrows rÂ before r = 2
        full = objective_curves(0.2, adv, beta=5.0, r_min=0.05)
        below_right = full["kl_penalty"][-1] < y_lo
        expected = [r.min()] + ([r.max()] if below_right else [])
        assert marks["ratio"].tolist() == expected
        assert list(marks["direction"]) == ["beyond the axis ▼"] * len(expected)
        assert list(marks["objective"]) == [y_lo] * len(expected)
