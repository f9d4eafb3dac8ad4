"""AppTest of the seed spread on the live-training page (issue 13, item 4): one click trains the
same settings on N seeds, queued within the per-student cap, drawn as a median with a min–max
band. Real runs in worker processes, as in test_page_training (whose helpers these tests share).
"""

from __future__ import annotations

import pytest

from conftest import named_datasets
from ppo_core import PRESETS
from runs.manager import MAX_RUNS_PER_STUDENT
from test_page_training import at  # noqa: F401 - the page fixture, used by name
from test_page_training import BATCH, disabled, runs, set_widget, wait_until
from ui.spread import seed_spread
from views.live_view import SPREAD_MIN_SEEDS

PAGE = "lessons/training.py"
CARTPOLE = PRESETS["cartpole"]


def spread_chart(at) -> dict:
    """The named datasets of the page's seed-spread chart (the one with a ``spread`` dataset)."""
    return next(d for d in map(named_datasets, at.get("vega_lite_chart")) if "spread" in d)


def test_a_spread_of_three_trains_seeds_s_to_s_plus_2_and_draws_their_median_and_band(at):
    set_widget(at, "cartpole", "total_steps", 3 * BATCH)
    set_widget(at, "cartpole", "seed", 4)
    at.number_input(key="train_spread_n").set_value(3).run()
    at.button(key="train_spread").click().run()
    assert not at.exception
    started = runs(at)
    assert [r.config["seed"] for r in started] == [4, 5, 6]
    assert len({r.group for r in started}) == 1 and started[0].group is not None
    for r in started[1:]:  # the same settings but the seed
        assert {k for k in r.config if r.config[k] != started[0].config[k]} == {"seed"}
    assert disabled(at)["train_start"] and disabled(at)["train_spread"] and not disabled(at)["train_stop"]
    # Both the runs and the page: a rerun drawn just before the last run ended still says "2 of 3".
    wait_until(
        at,
        lambda a: all(r.state == "finished" for r in runs(a)) and any("3 of 3 runs" in p.proto.text for p in a.get("progress")),
        "the three seeds to finish and the page to say so", timeout=300,
    )
    data = spread_chart(at)
    band = data["spread"]
    expected = seed_spread([r.records for r in started], min_seeds=SPREAD_MIN_SEEDS)  # none reached the target in 3 updates: none held
    assert list(band["global_step"]) == [BATCH * (i + 1) for i in range(3)][-len(band):]
    for column in ("median", "min", "max", "seeds"):
        assert list(band[column]) == pytest.approx(list(expected[column])), column
    assert set(band["run"]) == {"seeds 4–6"}
    assert sorted(set(data["seeds"]["seed"])) == [4, 5, 6]  # each seed's own curve under the band
    for r in started:
        mine = data["seeds"][data["seeds"]["seed"] == r.config["seed"]]
        assert list(mine["episode_return_mean"]) == pytest.approx([x["episode_return_mean"] for x in r.records if x["episode_return_mean"] is not None])
    assert any("3 of 3 runs of the spread ended" in p.proto.text for p in at.get("progress"))
    reading = next(m.value for m in at.markdown if m.value.startswith("**seeds 4–6**"))
    assert "0 of 3 seeds reached 475" in reading


def test_a_spread_larger_than_the_cap_queues_its_last_seeds_as_the_first_end(at):
    n = MAX_RUNS_PER_STUDENT + 1
    set_widget(at, "cartpole", "total_steps", 2 * BATCH)
    at.number_input(key="train_spread_n").set_value(n).run()
    at.button(key="train_spread").click().run()
    assert not at.exception
    assert [r.config["seed"] for r in runs(at)] == list(range(CARTPOLE.seed, CARTPOLE.seed + MAX_RUNS_PER_STUDENT))
    assert any("1 not queued yet" in c.value for c in at.caption)
    wait_until(at, lambda a: len(runs(a)) == n and all(r.state == "finished" for r in runs(a)), f"all {n} seeds to finish", timeout=300)
    assert [r.config["seed"] for r in runs(at)] == list(range(CARTPOLE.seed, CARTPOLE.seed + n))
    assert list(spread_chart(at)["spread"]["seeds"])[-1] == n
    assert not disabled(at)["train_spread"]  # all ended: a new spread may start


@pytest.mark.parametrize("n", [1, 11])
def test_a_number_of_seeds_outside_2_to_10_is_refused_with_the_range(at, n):
    at.number_input(key="train_spread_n").set_value(n).run()
    assert any("number of seeds: a whole number from 2 to 10" in e.value for e in at.error)
    assert disabled(at)["train_spread"]
    at.toggle(key="train_compare_spread").set_value(True).run()
    assert disabled(at)["train_compare"]


def test_a_comparison_on_two_seeds_draws_one_median_and_band_per_variant(at):
    set_widget(at, "cartpole", "total_steps", 2 * BATCH)
    at.number_input(key="train_spread_n").set_value(2).run()
    at.toggle(key="train_compare_spread").set_value(True).run()
    at.button(key="train_compare").click().run()  # default: clipped vs no clipping
    assert not at.exception
    wait_until(at, lambda a: len(runs(a)) == 4 and all(r.state == "finished" for r in runs(a)), "the four runs to finish", timeout=300)
    assert [(r.config["objective"], r.config["seed"]) for r in runs(at)] == [
        ("clip", CARTPOLE.seed), ("none", CARTPOLE.seed), ("clip", CARTPOLE.seed + 1), ("none", CARTPOLE.seed + 1),
    ]
    data = spread_chart(at)
    names = [f"clipped, ε = {CARTPOLE.clip_coef:g}", "no clipping"]
    assert list(dict.fromkeys(data["spread"]["run"])) == names
    for name, objective in zip(names, ("clip", "none")):
        seeds = [r for r in runs(at) if r.config["objective"] == objective]
        expected = seed_spread([r.records for r in seeds], min_seeds=SPREAD_MIN_SEEDS)
        mine = data["spread"][data["spread"]["run"] == name]
        assert list(mine["min"]) == pytest.approx(list(expected["min"])) and list(mine["max"]) == pytest.approx(list(expected["max"]))
    # the diagnostics are the first seed's of each variant, named by variant and seed
    diag = next(d for d in map(named_datasets, at.get("vega_lite_chart")) if "diagnostic" in d)
    assert set(diag["diagnostic"]["run"]) == {f"{n} · seed {CARTPOLE.seed}" for n in names}


def test_stop_ends_the_queued_seeds_and_starts_none_of_the_rest(at):
    at.toggle(key="train_stop_at_target").set_value(False).run()  # each seed keeps training until stopped
    at.number_input(key="train_spread_n").set_value(MAX_RUNS_PER_STUDENT + 2).run()
    at.button(key="train_spread").click().run()
    assert len(runs(at)) == MAX_RUNS_PER_STUDENT
    at.button(key="train_stop").click().run()
    assert {r.state for r in runs(at)} == {"stopped"}
    for _ in range(3):  # later ticks queue nothing: the two seeds left were dropped
        at.run()
    assert len(runs(at)) == MAX_RUNS_PER_STUDENT and not disabled(at)["train_spread"]
    assert any("the rest are not started" in c.value for c in at.caption)
