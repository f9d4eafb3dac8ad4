"""The discretised Pendulum is the "PPO from scratch" notebook's: action k applies torque
−2, −1, 0, 1, 2 (not the bin centres ±1.6, ±0.8, 0), the angular velocity is divided by 8 and
the reward by 10. Checked on the torque the simulator actually applied (``last_u``), through the
factories the trainer builds its environments with."""

import gymnasium as gym
import numpy as np

from ppo_core import PRESETS, PPOTrainer
from ppo_core.envs import make_env, make_vector_env

NOTEBOOK_TORQUES = [-2.0, -1.0, 0.0, 1.0, 2.0]  # the notebook's DiscreteActionWrapper, action 0 to 4


def test_single_env_applies_the_notebooks_torques():
    env = make_env(PRESETS["pendulum-discrete"].env_id)
    assert env.action_space == gym.spaces.Discrete(5)
    env.reset(seed=0)
    applied = []
    for action in range(5):
        env.step(action)
        applied.append(float(env.unwrapped.last_u))
    assert applied == NOTEBOOK_TORQUES
    env.close()


def test_trainers_vector_env_applies_the_notebooks_torques():
    # The trainer's own environments, one sub-environment per action.
    trainer = PPOTrainer(PRESETS["pendulum-discrete"].replace(num_envs=5, num_minibatches=1))
    assert trainer.envs.single_action_space == gym.spaces.Discrete(5)
    trainer.envs.step(np.arange(5))
    assert [float(e.unwrapped.last_u) for e in trainer.envs.envs] == NOTEBOOK_TORQUES
    trainer.close()


def test_scaled_observation_and_reward_match_the_raw_pendulum():
    vec = make_vector_env("Pendulum-v1-discrete", 5)
    obs, _ = vec.reset(seed=7)
    raw = [gym.make("Pendulum-v1") for _ in range(5)]
    raw_obs = np.stack([env.reset(seed=7 + i)[0] for i, env in enumerate(raw)])  # SyncVectorEnv seeds 7, 8, …
    scale = np.array([1.0, 1.0, 1.0 / 8.0], dtype=np.float32)
    np.testing.assert_array_equal(obs, raw_obs * scale)
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.integers(0, 5, size=5)
        obs, reward, *_ = vec.step(actions)
        steps = [env.step(np.array([NOTEBOOK_TORQUES[a]], dtype=np.float32)) for env, a in zip(raw, actions)]
        np.testing.assert_array_equal(obs, np.stack([s[0] for s in steps]) * scale)
        np.testing.assert_allclose(reward, np.array([s[1] for s in steps]) / 10.0, rtol=1e-12)
    vec.close()


def test_a_shorter_time_limit_cuts_every_environment_there():
    # The lessons shorten the time limit so a cut fits in a 24-row table; training never does.
    for key, limit in [("CartPole-v1", 16), ("Pendulum-v1-discrete", 10)]:
        vec = make_vector_env(key, 3, max_episode_steps=limit)
        vec.reset(seed=0)
        age = np.zeros(3, dtype=int)  # steps into the current episode
        cuts = 0
        for _ in range(60):
            _, _, term, trunc, _ = vec.step(vec.action_space.sample())
            age += 1
            assert not (trunc & (age != limit)).any() and (age <= limit).all()
            assert (trunc | term)[age == limit].all()
            cuts += int((trunc & ~term).sum())
            age[term | trunc] = 0
        assert cuts > 0
        vec.close()
    assert make_vector_env("CartPole-v1", 1).unwrapped.max_episode_steps == 500  # the default stays
