"""ui.compare: which runs a comparison starts, and the line that reads their difference."""

from __future__ import annotations

import pytest

from ppo_core import PRESETS
from ui.compare import COMPARISONS, ENTROPY_BONUS, TARGET_KL, TOO_HIGH, comparison_configs, comparison_reading, variant_labels

CARTPOLE = PRESETS["cartpole"].replace(seed=7, clip_coef=0.3)


def changed(a, b) -> set[str]:
    da, db = a.to_dict(), b.to_dict()
    return {k for k in da if da[k] != db[k]}


@pytest.mark.parametrize(
    "kind, objectives",
    [("clip_vs_none", ["clip", "none"]), ("clip_vs_kl", ["clip", "kl_penalty"]), ("all_objectives", ["clip", "none", "kl_penalty"])],
)
def test_objective_comparisons_change_only_the_objective(kind, objectives):
    configs = comparison_configs(CARTPOLE, kind)
    assert [c.objective for c in configs] == objectives
    for c in configs[1:]:
        assert changed(configs[0], c) == {"objective"}
    assert all(c.seed == 7 and c.clip_coef == 0.3 for c in configs)


def test_two_learning_rates_change_only_the_learning_rate():
    first, second = comparison_configs(CARTPOLE, "two_learning_rates", 1e-3)
    assert first == CARTPOLE and second.learning_rate == 1e-3 and changed(first, second) == {"learning_rate"}
    assert variant_labels([first, second]) == [f"lr {CARTPOLE.learning_rate:g}", "lr 0.001"]


@pytest.mark.parametrize("second, words", [(None, "second learning rate: give a value"), (CARTPOLE.learning_rate, "must differ"), (-1.0, "learning_rate")])
def test_bad_second_learning_rates_name_the_field(second, words):
    with pytest.raises(ValueError, match=words):
        comparison_configs(CARTPOLE, "two_learning_rates", second)


def test_an_unknown_comparison_lists_the_known_ones():
    with pytest.raises(ValueError, match=", ".join(COMPARISONS)):
        comparison_configs(CARTPOLE, "bigger_network")


# (The KL-penalty run was named "KL penalty" alone; issue 13 names it by its d_targ too.)
def test_variant_names():
    assert variant_labels(comparison_configs(CARTPOLE, "all_objectives")) == [
        "clipped, ε = 0.3", "no clipping", f"KL penalty, d_targ {CARTPOLE.kl_target:g}",
    ]


@pytest.mark.parametrize("kind, field, values, labels", [
    ("norm_adv", "norm_adv", [True, False], ["advantage normalisation on", "advantage normalisation off"]),
    ("clip_vloss", "clip_vloss", [True, False], ["value-loss clipping on", "value-loss clipping off"]),
    ("anneal_lr", "anneal_lr", [True, False], ["learning-rate annealing on", "learning-rate annealing off"]),
    ("entropy_bonus", "ent_coef", [ENTROPY_BONUS, 0.0], [f"entropy bonus {ENTROPY_BONUS:g}", "no entropy bonus"]),
    ("target_kl", "target_kl", [None, TARGET_KL], ["no target KL", f"target KL {TARGET_KL:g}"]),
    ("lr_too_high", "learning_rate", [CARTPOLE.learning_rate, CARTPOLE.learning_rate * TOO_HIGH],
     [f"lr {CARTPOLE.learning_rate:g}", f"lr {CARTPOLE.learning_rate * TOO_HIGH:g}"]),
])
def test_each_a_b_changes_one_setting_on_the_same_seed_and_names_the_runs_by_it(kind, field, values, labels):
    configs = comparison_configs(CARTPOLE, kind)
    assert [getattr(c, field) for c in configs] == values
    assert changed(*configs) == {field} and all(c.seed == CARTPOLE.seed for c in configs)
    assert variant_labels(configs) == labels
    assert kind in COMPARISONS


def test_an_entropy_bonus_or_target_kl_already_set_is_the_one_compared():
    assert [c.ent_coef for c in comparison_configs(CARTPOLE.replace(ent_coef=0.05), "entropy_bonus")] == [0.05, 0.0]
    assert [c.target_kl for c in comparison_configs(CARTPOLE.replace(target_kl=0.03), "target_kl")] == [None, 0.03]


def test_labels_name_every_setting_that_differs_and_fold_epsilon_into_the_objective():
    base = CARTPOLE.replace(objective="clip")
    assert variant_labels([base, base.replace(clip_coef=0.1)]) == ["ε = 0.3", "ε = 0.1"]
    assert variant_labels([base, base.replace(objective="none", clip_coef=0.1)]) == ["clipped, ε = 0.3", "no clipping"]
    kl = base.replace(objective="kl_penalty")
    assert variant_labels([kl, kl.replace(kl_target=0.02)]) == ["d_targ 0.01", "d_targ 0.02"]
    assert variant_labels([base, base.replace(seed=2, gae_lambda=0.8)]) == ["seed 7, GAE λ 0.9", "seed 2, GAE λ 0.8"]
    assert variant_labels([base, base]) == ["as set", "as set"]


def test_a_learning_rate_with_no_higher_rate_says_so():
    with pytest.raises(ValueError, match="learning rate: 0.5 leaves no higher rate"):
        comparison_configs(CARTPOLE.replace(learning_rate=0.5), "lr_too_high")


def record(step, ret, kl, episodes=25):
    return {"global_step": step, "episode_return_mean": ret, "episodes": episodes, "approx_kl": kl, "update": step // 256}


def test_the_reading_names_who_reached_the_target_first_and_each_runs_numbers():
    clipped = [record(256, 20.0, 0.01), record(512, 480.0, 0.02), record(768, 500.0, 0.015)]
    unclipped = [record(256, 20.0, 0.01), record(512, 300.0, 0.25), record(768, 476.0, 0.31)]
    line = comparison_reading(["clipped, ε = 0.2", "no clipping"], [clipped, unclipped], 475.0, [1024, 1024])
    assert line == (
        "clipped, ε = 0.2 got there first. "
        "**clipped, ε = 0.2** reached 475 at 512 steps, final return 500, max KL 0.020; "
        "**no clipping** reached 475 at 768 steps, final return 476, max KL 0.310."
    )


def test_the_reading_of_runs_that_have_not_reached_the_target():
    fewer_episodes = [record(256, 480.0, 0.01, episodes=5)]  # 480, but over 5 episodes: not yet
    line = comparison_reading(["lr 0.003", "lr 0.01"], [fewer_episodes, []], 475.0, [2048, 2048])
    assert line == (
        "**lr 0.003** not at 475 after 256 of 2,048 steps, final return 480, max KL 0.010; "
        "**lr 0.01** not at 475 after 0 of 2,048 steps, final return —, max KL —."
    )
