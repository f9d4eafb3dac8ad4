"""The discretised Pendulum is the "PPO from scratch" notebook's: action k applies torque
−2, −1, 0, 1, 2 (not the bin centres ±1.6, ±0.8, 0), the angular velocity is divided by 8 and
the reward by 10. Checked on the torque the simulator actually applied (``last_u``), through the
factories the trainer builds its environments with.

Acrobot, the continuous Pendulum and MountainCarContinuous are stepped by ppo_core's NumPy vector
environments; they are checked here against Gymnasium's own, step by step, and so is the
observation normaliser that goes with them."""

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
    for key, limit in [("CartPole-v1", 16), ("Pendulum-v1-discrete", 10), ("Pendulum-v1", 12), ("MountainCarContinuous-v0", 9)]:
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


def step_beside_gymnasium(ours, gym_id, limit, draw_states, draw_actions, *, steps, reward_atol, obs_atol, is_start):
    """Step ppo_core's NumPy environment ``ours`` and one Gymnasium ``gym_id`` per environment
    from the same states (re-drawn every 50 steps by ``draw_states``, so that they range over
    the whole state space) with the same actions, and check each step: the same terminations,
    a cut exactly at ``limit``, the same rewards and observations (an ended environment's last
    one in info["final_obs"]), and a fresh start (``is_start``, step count 0) after an end.
    Returns the numbers of terminations and of time-limit cuts."""
    n = ours.num_envs
    ours.reset(seed=3)
    theirs = [gym.make(gym_id).unwrapped for _ in range(n)]
    for i, env in enumerate(theirs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    terminations = cuts = 0
    for step in range(steps):
        if step % 50 == 0:
            ours.state = draw_states(rng, n)
        for i, env in enumerate(theirs):
            env.state = ours.state[i].copy()
        action = draw_actions(rng, n)
        expected = [env.step(a) for env, a in zip(theirs, action)]
        steps_before = ours.steps.copy()
        obs, reward, term, trunc, info = ours.step(action)
        np.testing.assert_array_equal(term, [e[2] for e in expected])
        np.testing.assert_array_equal(trunc, steps_before + 1 >= limit)
        np.testing.assert_allclose(reward, [e[1] for e in expected], rtol=0, atol=reward_atol)
        ended = term | trunc
        got = np.stack([info["final_obs"][i] if ended[i] else obs[i] for i in range(n)])
        np.testing.assert_allclose(got, np.stack([e[0] for e in expected]), rtol=0, atol=obs_atol)
        if ended.any():
            assert is_start(ours.state[ended]).all() and (ours.steps[ended] == 0).all()
        terminations += int(term.sum())
        cuts += int((trunc & ~term).sum())
    return terminations, cuts


def test_acrobot_vector_env_steps_as_gymnasiums():
    # Gymnasium's Acrobot (its book dynamics, one RK4 step), from states where the links swing.
    from ppo_core.envs import SameStepAcrobotVectorEnv

    high = [np.pi, np.pi, 4 * np.pi, 9 * np.pi]
    terminations, cuts = step_beside_gymnasium(
        SameStepAcrobotVectorEnv(8, max_episode_steps=40), "Acrobot-v1", 40,
        lambda rng, n: rng.uniform(np.negative(high), high, (n, 4)),
        lambda rng, n: rng.integers(0, 3, n),
        steps=400, reward_atol=0.0, obs_atol=1e-6,
        is_start=lambda s: np.all(np.abs(s) <= 0.1, axis=1),
    )
    assert terminations > 10 and cuts > 10


def test_pendulum_vector_env_steps_as_gymnasiums():
    # States over several turns and at full speed, torques beyond ±2 (both clip); Pendulum
    # never terminates.
    from ppo_core.envs import SameStepPendulumVectorEnv

    terminations, cuts = step_beside_gymnasium(
        SameStepPendulumVectorEnv(8, max_episode_steps=30), "Pendulum-v1", 30,
        lambda rng, n: rng.uniform([-3 * np.pi, -8.0], [3 * np.pi, 8.0], (n, 2)),
        lambda rng, n: rng.uniform(-3.0, 3.0, (n, 1)).astype(np.float32),
        steps=200, reward_atol=1e-9, obs_atol=0.0,
        is_start=lambda s: np.all(np.abs(s) <= [np.pi, 1.0], axis=1),
    )
    assert terminations == 0 and cuts >= 40


def test_pendulum_returns_are_recorded_before_the_reward_normaliser():
    # The preset's chain: the episode returns a student sees (and the −200 target) are the
    # environment's, while the agent's rewards are divided by one running σ of the discounted
    # return for all environments.
    config = PRESETS["pendulum"]
    assert config.normalize_reward and not config.normalize_obs
    normalised = make_vector_env("Pendulum-v1", 4, normalize_reward=True, gamma=config.gamma)
    raw = make_vector_env("Pendulum-v1", 4)
    normalised.reset(seed=5)
    raw.reset(seed=5)
    rng = np.random.default_rng(1)
    sums = np.zeros(4)
    for _ in range(200):
        action = rng.uniform(-2.0, 2.0, (4, 1)).astype(np.float32)
        _, r_norm, _, trunc, info = normalised.step(action)
        _, r_raw, _, _, _ = raw.step(action)
        sums += r_raw
        ratio = r_norm / r_raw
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)  # one scale for all environments
        assert ratio[0] != 1.0
    assert trunc.all()
    np.testing.assert_allclose(info["episode"]["r"], sums, rtol=1e-5)
    assert (sums < -100).all()


def test_mountain_car_vector_env_steps_as_gymnasiums():
    # From anywhere on the track, near the goal and the wall, forces beyond ±1 (both clip):
    # rewards and ends exactly, observations within one float32 rounding (where the force is
    # clipped, Gymnasium adds the velocity change in float64).
    from ppo_core.envs import SameStepMountainCarContinuousVectorEnv

    terminations, cuts = step_beside_gymnasium(
        SameStepMountainCarContinuousVectorEnv(8, max_episode_steps=60), "MountainCarContinuous-v0", 60,
        lambda rng, n: rng.uniform([-1.2, -0.07], [0.6, 0.07], (n, 2)).astype(np.float32),
        lambda rng, n: rng.uniform(-1.5, 1.5, (n, 1)).astype(np.float32),
        steps=3000, reward_atol=1e-12, obs_atol=2e-7,
        is_start=lambda s: (s[:, 0] >= -0.6) & (s[:, 0] <= -0.4) & (s[:, 1] == 0),
    )
    assert terminations > 50 and cuts > 50


def test_vector_observation_normaliser_scales_final_observations_too():
    # One running mean and variance over every observation the environments returned, and the
    # same scaling for the last observation of a cut episode (the critic's bootstrap input).
    from ppo_core.trainer import observation_normalizer

    raw = make_vector_env("MountainCarContinuous-v0", 4, max_episode_steps=25)
    scaled = make_vector_env("MountainCarContinuous-v0", 4, normalize_obs=True, max_episode_steps=25)
    seen = [raw.reset(seed=2)[0]]
    scaled.reset(seed=2)
    normaliser = observation_normalizer(scaled)
    rng = np.random.default_rng(4)
    finals = 0
    for _ in range(60):
        action = rng.uniform(-1.0, 1.0, (4, 1)).astype(np.float32)
        raw_obs, _, _, _, raw_info = raw.step(action)
        obs, _, _, trunc, info = scaled.step(action)
        seen.append(raw_obs)
        history = np.concatenate(seen)
        # Gymnasium's running statistic starts from a prior (mean 0, variance 1, weight 1e-4);
        # pooled with the observations' own mean and variance:
        prior, count = 1e-4, len(history)
        total = prior + count
        mean = count * history.mean(axis=0) / total
        var = (prior + count * history.var(axis=0) + history.mean(axis=0) ** 2 * prior * count / total) / total
        np.testing.assert_allclose(normaliser.obs_rms.mean, mean, rtol=1e-5)
        np.testing.assert_allclose(normaliser.obs_rms.var, var, rtol=1e-5)
        scale = np.sqrt(var + 1e-8)  # ε = 1e-8 under the root, as Gymnasium's wrapper
        np.testing.assert_allclose(obs, (raw_obs - mean) / scale, rtol=1e-5, atol=1e-5)
        for i in np.flatnonzero(trunc):
            np.testing.assert_allclose(info["final_obs"][i], (raw_info["final_obs"][i] - mean) / scale, rtol=1e-5, atol=1e-5)
            finals += 1
    assert finals == 8  # two cuts in each of the four environments
