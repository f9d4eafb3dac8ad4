"""AppTest of the one-update page: what it shows is the trace of a real update, recomputed here.

PPOTrainer is deterministic for a given config and seed, so the test runs the same update on its
own (cartpole, seed 0, untrained: the page's defaults) and compares the page's metrics and chart
data with numbers computed from that trace by ppo_core's own functions.
"""

import json

import numpy as np
import pytest

from conftest import arrow_frame
from ppo_core import (
    PRESETS,
    approx_kl,
    clip_binds,
    clip_fraction,
    clipped_objective,
    explained_variance,
)
from ppo_core.lesson import lesson_trainer, trace_update

PAGE = "lessons/ppo_update.py"
CHARTS = ["clip+", "clip-", "approx_kl", "clip_fraction", "probs", "fit"]  # in page order


@pytest.fixture(scope="module")
def trace():
    return trace_update(lesson_trainer("cartpole", seed=0, warmup_updates=0))


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at) -> dict[str, tuple[dict, dict]]:
    """Each chart by its role: (spec, {dataset name: DataFrame})."""
    elements = at.get("vega_lite_chart")
    assert len(elements) == len(CHARTS)
    out = {}
    for name, el in zip(CHARTS, elements):
        frames = {d.name: arrow_frame(d.data.data) for d in el.proto.datasets}
        out[name] = (json.loads(el.proto.spec), frames)
    return out


def set_epoch(at, k: int):
    at.slider(key="update_epoch").set_value(k).run()
    assert not at.exception
    return at


def test_defaults_and_slider_range(at, trace):
    assert at.selectbox(key="update_preset").value == "cartpole"
    assert at.radio(key="update_warmup").value == 0
    assert at.number_input(key="update_seed").value == 0
    slider = at.slider(key="update_epoch")
    assert slider.value == 0
    assert slider.max == len(trace.epoch_stats) == 6  # the cartpole preset's K


def test_epoch_zero_is_the_batch_as_collected(at, trace):
    shown = metrics(at)
    assert shown["ratios span"] == "1.000 – 1.000"
    assert shown["approx KL"] == "0.00000"
    assert shown["clip fraction"] == "0.000"
    assert shown["samples on a flat part"] == f"0 of {len(trace.batch)}"
    c = charts(at)
    ratios = np.concatenate([c["clip+"][1]["points"]["ratio"], c["clip-"][1]["points"]["ratio"]])
    assert len(ratios) == np.count_nonzero(trace.advantages)
    assert (ratios == 1.0).all()  # exactly: π_θ is π_θk before the first step
    assert len(c["clip+"][1]["highlight"]) == 0 and len(c["clip-"][1]["highlight"]) == 0  # none ringed
    probs = c["probs"][1]["points"]
    np.testing.assert_array_equal(probs["before"], probs["after"])


def test_slider_shows_the_traced_epoch(at, trace):
    seen = set()
    for k in range(1, len(trace.ratios)):
        set_epoch(at, k)
        r = trace.ratios[k].astype(np.float64)
        shown = metrics(at)
        assert shown["approx KL"] == f"{approx_kl(np.log(r)):.5f}"
        assert shown["clip fraction"] == f"{clip_fraction(r, trace.eps):.3f}"
        flat = int(clip_binds(r, trace.advantages, trace.eps).sum())
        assert shown["samples on a flat part"] == f"{flat} of {len(trace.batch)}"
        assert shown["ratios span"] == f"{r.min():.3f} – {r.max():.3f}"
        assert shown[f"explained variance after epoch {k}"] == f"{explained_variance(trace.values[k], trace.returns):.3f}"
        seen.add(shown["approx KL"])
        # the over-epochs charts carry the logged statistics of every epoch and mark epoch k
        for name in ("approx_kl", "clip_fraction"):
            _, frames = charts(at)[name]
            logged = next(f for f in frames.values() if "series" in f.columns)
            logged = logged[logged["series"] == "logged in epoch k"].dropna().sort_values("epoch")
            np.testing.assert_allclose(logged["value"], [s[name] for s in trace.epoch_stats], rtol=1e-6)
            assert frames["marker"]["epoch"].tolist() == [k]
    assert len(seen) == len(trace.ratios) - 1  # every epoch shows its own KL
    set_epoch(at, 0)
    assert metrics(at)["approx KL"] == "0.00000"


def test_chart_data_after_the_last_epoch(at, trace):
    k = len(trace.ratios) - 1
    set_epoch(at, k)
    c = charts(at)
    r = trace.ratios[k].astype(np.float64)
    adv = trace.advantages
    for name, sign in (("clip+", 1.0), ("clip-", -1.0)):
        frames = c[name][1]
        side = np.sign(adv) == sign
        points = frames["points"]
        np.testing.assert_allclose(np.sort(points["ratio"]), np.sort(r[side]), rtol=1e-6)
        # every point lies on the A = ±1 curve: L^CLIP(r, Â)/|Â|
        np.testing.assert_allclose(points["objective"], clipped_objective(points["ratio"], sign, trace.eps), atol=1e-9)
        flat = clip_binds(r, adv, trace.eps) & side
        ringed = frames.get("highlight")
        assert (0 if ringed is None else len(ringed)) == flat.sum()
        if flat.any():
            np.testing.assert_allclose(np.sort(ringed["ratio"]), np.sort(r[flat]), rtol=1e-6)
    assert clip_binds(r, adv, trace.eps).any(), "this update should clip some samples by its last epoch"
    probs = c["probs"][1]["points"]
    np.testing.assert_allclose(probs["after"], trace.action_probs[k], rtol=1e-6)
    np.testing.assert_allclose(probs["before"], trace.action_probs[0], rtol=1e-6)
    assert set(probs.loc[adv > 0, "advantage"]) == {"Â > 0"}
    fit = c["fit"][1]["points"]
    after = fit[fit["critic"] == "after the chosen epoch"]
    np.testing.assert_allclose(after["value"], trace.values[k], rtol=1e-6)
    np.testing.assert_allclose(after["return"], trace.returns, rtol=1e-6)
    assert metrics(at)["explained variance before"] == f"{explained_variance(trace.values[0], trace.returns):.3f}"


def test_another_preset_and_the_prediction(at):
    set_epoch(at, 6)
    at.selectbox(key="update_preset").set_value("pendulum").run()
    assert not at.exception
    slider = at.slider(key="update_epoch")
    assert slider.max == 10  # the pendulum preset's K
    set_epoch(at, 10)
    c = charts(at)
    assert "density" in json.dumps(c["probs"][0])
    # a 2048-sample batch is drawn as an evenly spaced 512 of it; the counts stay whole-batch
    assert len(c["probs"][1]["points"]) == 512 and len(c["fit"][1]["points"]) == 1024
    assert len(c["clip+"][1]["points"]) + len(c["clip-"][1]["points"]) <= 512
    assert any("This batch has 2048 samples" in cap.value for cap in at.caption)
    assert metrics(at)["samples on a flat part"].endswith("of 2048")
    at.radio(key="predict/update").set_value(
        "Yes: the steps taken for other samples move the shared network, and its ratio with it"
    ).run()
    assert any(s.value.startswith("Right") for s in at.success)


def test_stepping_epochs_keeps_every_chart_spec(at, trace):
    """Between two epochs only the charts' data change, never their specs: the browser then swaps
    the data of a drawn chart instead of building a new view, which keeps the slider responsive."""
    k = len(trace.ratios) - 1
    specs = {}
    for epoch in (k - 1, k):
        set_epoch(at, epoch)
        specs[epoch] = {name: spec for name, (spec, _) in charts(at).items()}
        assert all(len(frames) for _, frames in charts(at).values())
    for name in CHARTS:
        assert specs[k - 1][name] == specs[k][name], name


def test_trace_records_the_step_size_adam_used():
    # Watch every optimizer.step() of the traced update and read the step size it is called with.
    trainer = lesson_trainer("cartpole", seed=0, warmup_updates=5)
    used = []
    step = trainer.optimizer.step
    trainer.optimizer.step = lambda *a, **k: (used.append(trainer.optimizer.param_groups[0]["lr"]), step(*a, **k))[1]
    trace = trace_update(trainer)
    trainer.close()
    assert len(used) == trainer.config.update_epochs * trainer.config.num_minibatches
    assert set(used) == {trace.learning_rate}
    assert trace.learning_rate < trainer.config.learning_rate  # anneal_lr has lowered it during the warm-up


@pytest.mark.parametrize("warmup", [0, 5])
def test_caption_shows_the_step_size_the_update_used(at, warmup):
    cfg = PRESETS["cartpole"]
    traced = trace_update(lesson_trainer("cartpole", seed=0, warmup_updates=warmup))
    at.radio(key="update_warmup").set_value(warmup).run()
    assert not at.exception
    (caption,) = [c.value for c in at.caption if c.value.startswith("Batch: ")]
    if warmup:
        assert f"Adam step size {traced.learning_rate:.4g} (annealed from the configured {cfg.learning_rate:g}: " in caption
        assert f"{traced.learning_rate:.4g}" != f"{cfg.learning_rate:.4g}"
    else:
        assert f"Adam step size {cfg.learning_rate:.4g}, ε" in caption  # nothing annealed yet
