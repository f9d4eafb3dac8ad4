"""ppo_core.diagnostics.collapse_warning: a run whose learning collapsed says so, a healthy one does not."""

import pytest

from ppo_core import PRESETS
from ppo_core.diagnostics import (
    APPROX_KL_LIMIT,
    CLIP_FRACTION_LIMIT,
    COLLAPSE_UPDATES,
    ENTROPY_FLOOR,
    STD_FLOOR,
    collapse_warning,
)

HEALTHY = {"approx_kl": 0.01, "clip_fraction": 0.1, "entropy": 0.5, "learning_rate": 0.003}


def records(n: int = COLLAPSE_UPDATES, **stats) -> list[dict]:
    """Five healthy updates, then ``n`` with ``stats`` (the run's learning rate throughout)."""
    healthy = {**HEALTHY, "learning_rate": stats.get("learning_rate", HEALTHY["learning_rate"])}
    return [healthy] * 5 + [{**healthy, **stats} for _ in range(n)]


def test_a_healthy_run_and_a_short_one_get_no_warning():
    assert collapse_warning(records()) is None
    assert collapse_warning([]) is None
    assert collapse_warning([{**HEALTHY, "approx_kl": 1e10}] * (COLLAPSE_UPDATES - 1)) is None  # too few updates to tell


NAMES = {"approx_kl": "approx KL", "clip_fraction": "the clip fraction", "entropy": "the policy's entropy", "std": "the policy's σ"}
USUAL = {"approx_kl": "below 0.05", "clip_fraction": "below 0.3", "entropy": "above 0.05", "std": "above 0.2"}


@pytest.mark.parametrize("stat, limit", [("approx_kl", APPROX_KL_LIMIT), ("clip_fraction", CLIP_FRACTION_LIMIT)])
def test_each_upper_limit_on_both_sides(stat, limit):
    assert collapse_warning(records(**{stat: limit})) is None  # at the limit: not beyond it
    assert collapse_warning(records(**{stat: limit * 0.99})) is None
    above = limit * 1.01
    message = collapse_warning(records(**{stat: above}))
    assert message is not None and message.startswith(
        f"Learning has collapsed: {NAMES[stat]} is at least {above:.3g} in each of the last {COLLAPSE_UPDATES} updates, "
        f"where a healthy run stays {USUAL[stat]}: each update moves the policy far")
    assert "smaller learning rate than this run's 0.003" in message


@pytest.mark.parametrize("stat, floor, gaussian", [("entropy", ENTROPY_FLOOR, False), ("std", STD_FLOOR, True)])
def test_each_floor_on_both_sides(stat, floor, gaussian):
    """A deterministic policy: entropy near 0 (discrete actions) or σ near 0 (a Gaussian, whose
    entropy is read through σ: it has no floor at 0)."""
    extra = {"std": 0.5, "entropy": -2.0} if gaussian else {}  # (a Gaussian's entropy may be < 0)

    def run(value):
        return collapse_warning(records(**{**extra, stat: value}))

    assert run(floor) is None
    assert run(floor * 1.01) is None
    below = floor * 0.99
    message = run(below)
    assert message is not None and message.startswith(
        f"Learning has collapsed: {NAMES[stat]} is at most {below:.3g} in each of the last {COLLAPSE_UPDATES} updates, "
        f"where a healthy run stays {USUAL[stat]}: the policy")
    assert "no longer explores" in message


def test_a_gaussian_policys_negative_entropy_is_not_a_collapse():
    assert collapse_warning(records(std=0.3, entropy=-0.5)) is None  # a healthy pendulum has entropy near 0.07


def test_one_wild_update_among_healthy_ones_is_not_a_collapse():
    wild = records(n=COLLAPSE_UPDATES, approx_kl=100.0)
    wild[-2] = wild[0]
    assert collapse_warning(wild) is None


def test_approx_kl_that_is_no_longer_a_number_is_a_collapse():
    """What a learning rate of 1 does on cartpole: the loss stays finite, approx KL is NaN
    (logged as None) once the policy gives an action it took probability 0."""
    message = collapse_warning(records(approx_kl=None, clip_fraction=None, entropy=0.3, learning_rate=1.0))
    assert message is not None and "approx KL is no longer a number" in message and "this run's 1 " in message
    mixed = records(approx_kl=1e10, learning_rate=1.0)
    mixed[-1] = {**mixed[-1], "approx_kl": None}
    assert "approx KL is at least 1e+10, or not a number, in each of the last" in collapse_warning(mixed)


def test_records_without_the_statistics_say_nothing():
    assert collapse_warning([{"learning_rate": 1.0}] * 5) is None


def test_the_suggested_range_is_the_presets_learning_rates():
    rates = sorted(p.learning_rate for p in PRESETS.values())
    message = collapse_warning(records(approx_kl=10.0))
    assert message.endswith(f"(the presets use {rates[0]:g} to {rates[-1]:g}).")


def test_the_lab_report_carries_the_warning_of_a_collapsed_run_only():
    from types import SimpleNamespace

    from ui.report import summary_markdown

    cfg = PRESETS["cartpole"].replace(learning_rate=1.0)
    collapsed = SimpleNamespace(config=cfg.to_dict(), label="lr 1", records=[
        {"update": i + 1, "global_step": 256 * (i + 1), "episode_return_mean": 9.3, "episodes": 30,
         "approx_kl": None, "clip_fraction": None, "learning_rate": 1.0} for i in range(4)
    ])
    healthy = SimpleNamespace(config=PRESETS["cartpole"].to_dict(), label="preset", records=[
        {**r, "approx_kl": 0.01, "clip_fraction": 0.1, "learning_rate": 0.003} for r in collapsed.records
    ])
    one = summary_markdown(collapsed)
    assert f"**Warning.** {collapse_warning(collapsed.records)}" in one
    assert "Learning has collapsed" not in summary_markdown(healthy)
    both = summary_markdown([healthy, collapsed])
    assert both.count("Learning has collapsed") == 1 and "**Warning, " in both


def wait_for_the_end(at, timeout: float = 240.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        states = {m.label: m.value for m in at.metric}
        if states.get("State") in ("finished", "stopped itself", "failed", "stopped"):
            return states["State"]
        assert time.monotonic() < deadline, f"the run did not end within {timeout:.0f} s: {states}"
        time.sleep(0.5)


def test_the_training_page_warns_of_a_collapse_at_learning_rate_1_and_not_for_the_preset(open_page):
    """Learning rate 1 on cartpole: the loss stays finite (no divergence), the page says the
    step budget ran out, and a visible warning names approx KL. The preset's own run: no warning."""
    at = open_page("lessons/training.py")
    batch = PRESETS["cartpole"].batch_size
    try:
        at.number_input(key="train_cartpole_total_steps").set_value(15 * batch).run()
        at.number_input(key="train_cartpole_learning_rate").set_value(1.0).run()
        at.button(key="train_start").click().run()
        assert wait_for_the_end(at) == "finished"
        warnings = [w.value for w in at.warning]
        assert any("step budget ran out before the target" in w for w in warnings), warnings
        (collapsed,) = [w for w in warnings if w.startswith("Learning has collapsed: ")]
        assert "smaller learning rate than this run's 1 " in collapsed
        run = next(r for r in at.session_state["train_runs"] if r.id == at.session_state["train_current"])
        assert collapsed == collapse_warning(run.records)  # the page shows the pure function's verdict

        at.button(key="train_reset").click().run()
        at.number_input(key="train_cartpole_total_steps").set_value(15 * batch).run()
        at.button(key="train_start").click().run()
        assert wait_for_the_end(at) == "finished"
        assert not [w.value for w in at.warning if "collapsed" in w.value]
        run = next(r for r in at.session_state["train_runs"] if r.id == at.session_state["train_current"])
        assert len(run.records) == 15 and max(r["approx_kl"] for r in run.records) < 0.1
    finally:
        for run in at.session_state["train_runs"] if "train_runs" in at.session_state else []:
            run.stop()
