"""play_episode's return is the sum of the rewards the episode got, in the units of the preset's
training curve, and it says when the player's step limit cut the episode before the
environment's own limit did."""

import gymnasium as gym
import numpy as np
import pytest

from ppo_core import PRESETS
from ppo_core.envs import make_env
from ppo_core.lesson import play_episode
from ppo_core.trainer import agent_for


def replayed_rewards(env: gym.Env, seed: int, actions: np.ndarray) -> tuple[list[float], dict]:
    env.reset(seed=seed)
    rewards, info = [], {}
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
    env.close()
    return rewards, info


def test_a_cut_short_episode_returns_the_sum_of_its_rewards():
    # An untrained mountain car never reaches the flag: 500 of its 999 steps are played.
    cfg = PRESETS["mountaincar-continuous"]
    out = play_episode(cfg, agent_for(cfg), seed=3, max_steps=500)
    assert out["steps"] == 500 and len(out["actions"]) == 500
    assert out["cut_short"] and out["time_limit"] == 999
    # The raw environment, stepped with the same seed and the same (clipped) actions.
    rewards, _ = replayed_rewards(gym.make("MountainCarContinuous-v0"), 3, np.clip(out["actions"], -1.0, 1.0))
    assert out["episode_return"] == pytest.approx(sum(rewards), rel=1e-12)
    assert out["episode_return"] < -0.1  # −0.1·a² per step: not the 0.0 it used to report


def test_a_full_episode_returns_what_the_training_curve_counts():
    # The discretised Pendulum runs its full 200 steps; the return is in the preset's ÷10 units.
    cfg = PRESETS["pendulum-discrete"]
    out = play_episode(cfg, agent_for(cfg), seed=5, max_steps=500)
    assert out["steps"] == 200 and not out["cut_short"] and out["time_limit"] == 200
    rewards, info = replayed_rewards(make_env(cfg.env_id), 5, out["actions"])
    assert out["episode_return"] == pytest.approx(float(info["episode"]["r"]), rel=1e-6)  # RecordEpisodeStatistics
    torques = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=np.float32)[out["actions"]]
    raw, _ = replayed_rewards(gym.make("Pendulum-v1"), 5, torques[:, None])
    assert out["episode_return"] == pytest.approx(sum(raw) / 10.0, rel=1e-12)
