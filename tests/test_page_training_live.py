"""AppTest of the live view's charts (issue 13): the objective each run trains, a comparison on
every chart, the pace, and Step on a finished run. Real runs in worker processes, as in
test_page_training (whose helpers these tests share).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import named_datasets
from ppo_core import PRESETS, surrogate_objective
from test_page_training import at  # noqa: F401 - the page fixture, used by name
from test_page_training import BATCH, runs, set_widget, shown, state, the_run, wait_until
from ui.charts import CLIP_KEY, KL_KEY, RUN_COLORS, UNCLIPPED_KEY

PAGE = "lessons/training.py"
CARTPOLE = PRESETS["cartpole"]




def charts(at) -> dict[str, tuple[dict, dict]]:
    """Every chart of the page by its title: (spec, its named datasets as DataFrames)."""
    import json

    out = {}
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        out[spec.get("title") or f"untitled {len(out)}"] = (spec, named_datasets(el))
    return out


def batch_charts(at) -> dict[str, tuple[dict, dict]]:
    return {t: c for t, c in charts(at).items() if t.startswith(("Â > 0", "Â < 0"))}


def batch_caption(at) -> str:
    """The caption under the latest-batch plots (the one that reads its dots)."""
    return next(c.value for c in at.caption if c.value.startswith(("Each dot", "**")) and "dot" in c.value)


def finished_run(at, **settings):
    for name, value in settings.items():
        set_widget(at, "cartpole", name, value)
    at.button(key="train_start").click().run()
    wait_until(at, lambda a: state(a) == "finished", "the run to finish")
    return the_run(at)


def per_unit(record: dict, sign: float, objective: str, beta=None) -> np.ndarray:
    """The record's samples of one advantage sign, at their objective per unit |Â| (the reference)."""
    r, a = np.asarray(record["batch_ratio"]), np.asarray(record["batch_advantage"])
    side = np.sign(a) == sign
    return surrogate_objective(objective, r[side], a[side], eps=CARTPOLE.clip_coef, beta=beta) / np.abs(a[side])


def test_a_kl_run_draws_its_batch_on_the_kl_objective_with_beta_and_a_caption_without_the_clip(at):
    run = finished_run(at, objective="kl_penalty", total_steps=4 * BATCH)
    last = run.records[-1]
    beta = last["batch_kl_beta"]  # the β the last update's loss used
    assert beta == run.records[-2]["kl_beta"]  # the one the rule set after the update before
    drawn = batch_charts(at)
    assert set(drawn) == {f"Â > 0: L^KLPEN (β = {beta:.3g})", f"Â < 0: L^KLPEN (β = {beta:.3g})"}
    for title, (spec, data) in drawn.items():
        sign = 1.0 if title.startswith("Â > 0") else -1.0
        assert set(data["lines"]["curve"]) == {KL_KEY, UNCLIPPED_KEY}  # no L^CLIP
        assert len(data["spans"]) == 0 and [layer["data"]["name"] for layer in spec["layer"]] == ["lines", "points", "off_scale"]  # no band, no ε rules; marks where r·Â − β·KL leaves the chart
        np.testing.assert_allclose(np.sort(data["points"]["objective"]), np.sort(per_unit(last, sign, "kl_penalty", beta)), rtol=1e-9)
        assert not np.allclose(data["points"]["objective"], per_unit(last, sign, "clip"))  # it is not L^CLIP
    caption = batch_caption(at)
    assert f"β = {beta:.3g}" in caption and "clip" not in caption.lower() and "band" not in caption
    assert any(s.value == "The latest batch on the KL-penalised objective" for s in at.subheader)
    spec, data = charts(at)["KL penalty β"]  # β over time
    assert list(data["diagnostic"]["value"]) == pytest.approx([r["kl_beta"] for r in run.records])


def test_a_run_without_clipping_draws_its_batch_on_the_unclipped_line(at):
    run = finished_run(at, objective="none", total_steps=3 * BATCH)
    for title, (spec, data) in batch_charts(at).items():
        sign = 1.0 if title.startswith("Â > 0") else -1.0
        assert set(data["lines"]["curve"]) == {UNCLIPPED_KEY} and len(data["spans"]) == 0
        np.testing.assert_allclose(np.sort(data["points"]["objective"]), np.sort(sign * np.asarray(run.records[-1]["batch_ratio"])[
            np.sign(run.records[-1]["batch_advantage"]) == sign]))
    caption = batch_caption(at)
    assert "unclipped" in caption and "band" not in caption
    assert "KL penalty β" not in charts(at)


def test_a_clipped_runs_batch_is_on_l_clip_with_its_band(at):
    run = finished_run(at, total_steps=3 * BATCH)
    for title, (spec, data) in batch_charts(at).items():
        sign = 1.0 if title.startswith("Â > 0") else -1.0
        assert set(data["lines"]["curve"]) == {CLIP_KEY, UNCLIPPED_KEY} and len(data["spans"]) == 1
        np.testing.assert_allclose(np.sort(data["points"]["objective"]), np.sort(per_unit(run.records[-1], sign, "clip")))
    assert "shaded band" in batch_caption(at)


def test_a_comparison_puts_every_run_on_every_chart_named_by_what_differs(at):
    set_widget(at, "cartpole", "total_steps", 3 * BATCH)
    at.selectbox(key="train_compare_kind").set_value("all_objectives").run()
    at.button(key="train_compare").click().run()
    assert not at.exception
    wait_until(at, lambda a: len(runs(a)) == 3 and all(r.state == "finished" for r in runs(a)), "the three runs to finish", timeout=300)
    names = ["clipped, ε = 0.2", "no clipping", "KL penalty, d_targ 0.01"]
    by_title = charts(at)
    spec, data = next(c for c in by_title.values() if "returns" in c[1])
    assert list(dict.fromkeys(data["returns"]["run"])) == names
    colours = spec["layer"][0]["encoding"]["color"]["scale"]
    assert colours == {"domain": names, "range": RUN_COLORS[:3]}
    for metric in ("policy loss", "value loss", "entropy", "approx KL", "clip fraction", "explained variance", "learning rate"):
        spec, data = by_title[metric]
        assert set(data["diagnostic"]["run"]) == set(names), metric  # every run, not the first one only
        assert spec["encoding"]["color"]["scale"] == colours  # each run in its colour of the return chart
        for run, name in zip(runs(at), names):
            key = {"policy loss": "policy_loss", "value loss": "value_loss", "approx KL": "approx_kl", "clip fraction": "clip_fraction",
                   "explained variance": "explained_variance", "learning rate": "learning_rate"}.get(metric, metric)
            assert list(data["diagnostic"][data["diagnostic"]["run"] == name]["value"]) == pytest.approx([r[key] for r in run.records])
    assert set(by_title["KL penalty β"][1]["diagnostic"]["run"]) == {"KL penalty, d_targ 0.01"}
    # the latest batch of each run, side by side, each on its own objective
    titles = list(batch_charts(at))
    assert len(titles) == 6 and sum("L^CLIP" in t for t in titles) == 2 and sum("r·Â (no clip)" in t for t in titles) == 2
    assert sum("L^KLPEN" in t for t in titles) == 2
    assert [m.value for m in at.markdown if m.value.strip("*") in names] == [f"**{n}**" for n in names]
    reading = next(m.value for m in at.markdown if "max KL" in m.value)
    assert all(f"**{n}**" in reading for n in names)


def test_step_on_a_finished_run_says_it_has_finished_and_starts_nothing(at):
    run = finished_run(at, total_steps=2 * BATCH)
    at.button(key="train_step").click().run()
    assert not at.exception
    assert [r.id for r in runs(at)] == [run.id] and state(at) == "finished"
    assert any("This run has finished: it has no next update to take" in i.value for i in at.info)
    at.run()
    assert [r.id for r in runs(at)] == [run.id] and shown(at)["Steps done"] == f"{2 * BATCH:,}"


def test_the_pace_goes_to_new_runs_and_to_the_running_one(at):
    at.selectbox(key="train_pace").set_value(2.0).run()
    set_widget(at, "cartpole", "total_steps", 50 * BATCH)
    at.button(key="train_start").click().run()
    run = the_run(at)
    assert run.pace_s == 2.0
    at.selectbox(key="train_pace").set_value(0.0).run()
    assert run.pace_s == 0.0
    wait_until(at, lambda a: len(run.records) >= 3, "updates at full speed again")
