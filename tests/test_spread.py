"""ui.spread and ui.charts.seed_spread_chart: the seeds a spread trains, the order they are
queued in, and the median / min / max over seeds on known curves."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ppo_core import PRESETS
from ui.charts import RUN_COLORS, seed_spread_chart
from ui.compare import comparison_configs
from ui.spread import SpreadPlan, check_seeds, feed_order, seed_spread, spread_configs, spread_reading

CARTPOLE = PRESETS["cartpole"].replace(seed=7)


def curve(*points) -> list[dict]:
    """Records of (global_step, mean return) points; None: no episode had finished yet."""
    return [{"global_step": s, "episode_return_mean": v} for s, v in points]


def test_a_spread_is_the_same_settings_on_consecutive_seeds():
    configs = spread_configs(CARTPOLE, 3)
    assert [c.seed for c in configs] == [7, 8, 9]
    assert all(c.replace(seed=7) == CARTPOLE for c in configs)  # nothing else changes


@pytest.mark.parametrize("n", [1, 11, 0, -3, 2.5, "5", True])
def test_a_number_of_seeds_outside_2_to_10_names_the_field_and_the_range(n):
    with pytest.raises(ValueError, match=r"number of seeds: a whole number from 2 to 10 \(got"):
        check_seeds(n)


def test_the_last_seed_past_the_seed_range_names_the_seed():
    with pytest.raises(ValueError, match="seed"):
        spread_configs(CARTPOLE.replace(seed=2**31 - 2), 3)


def test_a_spread_comparison_is_queued_seed_by_seed_across_the_variants():
    variants = [spread_configs(c, 3) for c in comparison_configs(CARTPOLE, "clip_vs_none")]
    order = feed_order(variants)
    assert [(v, c.seed, c.objective) for v, c in order] == [
        (0, 7, "clip"), (1, 7, "none"), (0, 8, "clip"), (1, 8, "none"), (0, 9, "clip"), (1, 9, "none"),
    ]


def test_a_plan_hands_out_its_runs_as_room_allows_and_none_once_stopped():
    plan = SpreadPlan("spr1", ["seeds 7–11"], list(range(7, 12)), feed_order([spread_configs(CARTPOLE, 5)]), "cartpole")
    assert plan.pending == 5
    first = plan.take(3)  # a student's cap of 3
    assert [c.seed for _, c in first] == [7, 8, 9]
    plan.run_ids += ["a", "b", "c"]
    assert plan.pending == 2 and plan.take(0) == []
    assert [c.seed for _, c in plan.take(5)] == [10, 11]  # never more than are left
    assert plan.variant_of("b") == 0
    plan.cancelled = True
    assert plan.pending == 0 and plan.take(None) == []


def test_median_min_and_max_over_seeds_at_each_step():
    spread = seed_spread([
        curve((100, 10.0), (200, 30.0), (300, 50.0)),
        curve((100, 20.0), (200, 10.0), (300, 90.0)),
        curve((100, 60.0), (200, 20.0), (300, 70.0)),
    ])
    assert list(spread.columns) == ["global_step", "median", "min", "max", "seeds"]
    assert spread["global_step"].tolist() == [100, 200, 300]
    assert spread["median"].tolist() == [20.0, 20.0, 70.0]
    assert spread["min"].tolist() == [10.0, 10.0, 50.0]
    assert spread["max"].tolist() == [60.0, 30.0, 90.0]
    assert spread["seeds"].tolist() == [3, 3, 3]


def test_uneven_lengths_cover_each_step_with_the_seeds_that_reached_it():
    spread = seed_spread([
        curve((100, None), (200, 4.0), (300, 8.0), (400, 12.0)),  # no episode ended in the first update
        curve((100, 2.0), (200, 6.0)),  # still training: nothing past step 200
        curve((100, 1.0), (200, 3.0), (300, 5.0)),
        curve(),  # still queued
    ])
    assert spread["global_step"].tolist() == [100, 200, 300, 400]
    assert spread["seeds"].tolist() == [2, 3, 2, 1]
    assert spread["median"].tolist() == [1.5, 4.0, 6.5, 12.0]  # an even count: the mean of the middle two
    assert spread["min"].tolist() == [1.0, 3.0, 5.0, 12.0]
    assert spread["max"].tolist() == [2.0, 6.0, 8.0, 12.0]


def test_steps_a_single_seed_covers_can_be_left_out():
    spread = seed_spread([curve((100, 1.0), (200, 2.0), (300, 9.0)), curve((100, 3.0), (200, 4.0))], min_seeds=2)
    assert spread["global_step"].tolist() == [100, 200] and spread["median"].tolist() == [2.0, 3.0]


def test_a_seed_that_stopped_at_the_target_holds_its_last_value():
    spread = seed_spread([curve((100, 480.0)), curve((100, 200.0), (200, 300.0), (300, 400.0))], held=[True, False])
    assert spread["seeds"].tolist() == [2, 2, 2]
    assert spread["median"].tolist() == [340.0, 390.0, 440.0]
    assert spread["min"].tolist() == [200.0, 300.0, 400.0] and spread["max"].tolist() == [480.0, 480.0, 480.0]


def test_steps_that_do_not_coincide_take_each_seeds_latest_value_before_them():
    spread = seed_spread([curve((100, 1.0), (300, 3.0)), curve((200, 10.0), (300, 30.0))])
    assert spread["global_step"].tolist() == [100, 200, 300]
    assert spread["seeds"].tolist() == [1, 2, 2]
    assert spread["min"].tolist() == [1.0, 1.0, 3.0] and spread["max"].tolist() == [1.0, 10.0, 30.0]


def test_no_data_yet_is_an_empty_table_with_the_columns():
    spread = seed_spread([curve(), curve((100, None))])
    assert list(spread.columns) == ["global_step", "median", "min", "max", "seeds"] and len(spread) == 0


def test_the_spread_chart_layers_band_seeds_median_and_target_in_each_variants_colour():
    a = seed_spread([curve((100, 1.0), (200, 2.0)), curve((100, 3.0), (200, 6.0))]).assign(run="clipped")
    b = seed_spread([curve((100, 0.0), (200, 1.0)), curve((100, 5.0), (200, 5.0))]).assign(run="no clipping")
    seeds = pd.DataFrame({"global_step": [100, 200], "episode_return_mean": [1.0, 2.0], "run": ["clipped"] * 2, "seed": [1, 1]})
    spec = seed_spread_chart(pd.concat([a, b]), seeds, 475.0, runs=["clipped", "no clipping"])
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line", "line", "rule"]
    band = spec["layer"][0]["encoding"]
    assert (band["y"]["field"], band["y2"]["field"]) == ("min", "max")
    assert spec["layer"][2]["encoding"]["y"]["field"] == "median"
    assert band["color"]["scale"] == {"domain": ["clipped", "no clipping"], "range": RUN_COLORS[:2]}
    assert spec["datasets"]["spread"]["max"].tolist() == [3.0, 6.0, 5.0, 5.0]
    assert spec["datasets"]["target"]["target"].tolist() == [475.0]


def test_the_reading_counts_the_seeds_at_the_target_and_their_final_returns():
    # 20 episodes finished: the trainer's own test of the target (ui.report.steps_to_target)
    reached = [dict(r, episodes=20) for r in curve((100, 300.0), (200, 480.0))]
    missed = [dict(r, episodes=20) for r in curve((100, 100.0), (200, 200.0))]
    text = spread_reading(["clipped", "no clipping"], [[reached, reached, missed], [missed, curve()]], 475)
    assert text == ("**clipped**: 2 of 3 seeds reached 475 (median 200 steps); final return median 480 (lowest 200, highest 480); "
                    "**no clipping**: 0 of 2 seeds reached 475; final return median 200 (lowest 200, highest 200).")
    assert not math.isnan(seed_spread([reached, missed])["median"].iloc[-1])
