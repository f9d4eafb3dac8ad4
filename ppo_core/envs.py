"""The environments the presets train on, built from Gymnasium's own wrappers.

Every training environment is a Gymnasium vector environment with
``autoreset_mode=SAME_STEP``: when a sub-environment ends, the observation returned is already
the first of the next episode and the last one is in ``info["final_obs"]``. The default
NEXT_STEP mode would hand a CleanRL-style loop one junk transition per episode end.

Per sub-environment the chain is, innermost first:
    gym.make(id)  (TimeLimit)  →  the environment's fixed transforms (e.g. five fixed torques)
    →  RecordEpisodeStatistics (returns as the preset's target is stated)
    →  ClipAction (continuous)  →  NormalizeObservation / NormalizeReward (when asked for).
Normalisers sit inside each sub-environment rather than on the vector: Gymnasium's vector
normalisers only support NEXT_STEP, and per-env wrappers also normalise ``final_obs``, which
the time-limit bootstrap feeds to the critic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics
from gymnasium.wrappers import (
    ClipAction,
    NormalizeObservation,
    NormalizeReward,
    RecordEpisodeStatistics,
    TransformAction,
    TransformObservation,
    TransformReward,
)

__all__ = ["EnvironmentSpec", "ENVIRONMENTS", "make_env", "make_vector_env", "episode_stats"]


class SameStepCartPoleVectorEnv(CartPoleVectorEnv):
    """Gymnasium's NumPy-vectorised CartPole, autoresetting in the SAME step.

    Written here because Gymnasium 1.4 ships ``CartPoleVectorEnv`` (all poles stepped by one
    NumPy expression: 84 µs a step for 16 environments here, against 263 µs for a
    SyncVectorEnv of 16 CartPole-v1) only in NEXT_STEP mode. After the parent's step, the
    environments that ended are reset at once and their last observation is put in
    ``info["final_obs"]``, the layout SyncVectorEnv uses in SAME_STEP mode.
    """

    metadata = {**CartPoleVectorEnv.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        ended = terminated | truncated
        if ended.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(ended):
                final_obs[i] = obs[i]
            info = {**info, "final_obs": final_obs, "_final_obs": ended}
            self.state[:, ended] = self.np_random.uniform(self.low, self.high, size=(4, int(ended.sum())))
            self.steps[ended] = 0
            # The parent would reset these at the next call and hand back a zero-reward step.
            self.prev_done[:] = False
            obs = self.state.T.astype(np.float32)
        return obs, reward, terminated, truncated, info


def _scaled_pendulum(env: gym.Env) -> gym.Env:
    """The "PPO from scratch" notebook's Pendulum: five torques −2, −1, 0, 1, 2, the angular
    velocity divided by 8 and the reward by 10.

    The torques are evenly spaced from the lower bound to the upper one, ends included. Gymnasium's
    ``DiscretizeAction`` takes the centres of five equal bins instead (−1.6, −0.8, 0, 0.8, 1.6),
    so the mapping is given to ``TransformAction`` directly.
    """
    box = env.action_space
    torques = np.linspace(box.low, box.high, 5, dtype=np.float32)  # shape (5, 1): one action each
    env = TransformAction(env, lambda action: torques[int(action)], gym.spaces.Discrete(len(torques)))
    scale = np.array([1.0, 1.0, 1.0 / 8.0], dtype=np.float32)
    env = TransformObservation(env, lambda obs: (obs * scale).astype(np.float32), env.observation_space)
    # The scaled velocity bound is 8/8 = 1: a Box of ±1 for all three components.
    env.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    return TransformReward(env, lambda r: r / 10.0)


@dataclass(frozen=True)
class EnvironmentSpec:
    """One trainable environment: a Gymnasium id plus the fixed transforms the lesson uses."""

    key: str
    gym_id: str
    title: str
    continuous: bool
    transform: Callable[[gym.Env], gym.Env] | None = None
    reward_note: str = ""


ENVIRONMENTS: dict[str, EnvironmentSpec] = {
    spec.key: spec
    for spec in [
        EnvironmentSpec("CartPole-v1", "CartPole-v1", "CartPole", False),
        EnvironmentSpec("Acrobot-v1", "Acrobot-v1", "Acrobot", False),
        EnvironmentSpec(
            "Pendulum-v1-discrete",
            "Pendulum-v1",
            "Pendulum, 5 discrete torques",
            False,
            _scaled_pendulum,
            "rewards are the environment's divided by 10",
        ),
        EnvironmentSpec("Pendulum-v1", "Pendulum-v1", "Pendulum, continuous torque", True),
        EnvironmentSpec("MountainCarContinuous-v0", "MountainCarContinuous-v0", "Mountain car, continuous", True),
    ]
}


def make_env(
    env_key: str,
    *,
    render_mode: str | None = None,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    max_episode_steps: int | None = None,
) -> gym.Env:
    """One environment with the chain described in the module docstring.

    ``max_episode_steps`` replaces the environment's registered time limit (None: keep it).
    """
    spec = ENVIRONMENTS[env_key]
    if render_mode is not None:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # render off-screen: no display on a server
    env = gym.make(spec.gym_id, render_mode=render_mode, disable_env_checker=True, max_episode_steps=max_episode_steps)
    if spec.transform is not None:
        env = spec.transform(env)
    env = RecordEpisodeStatistics(env)
    if spec.continuous:
        env = ClipAction(env)  # the environment gets a legal torque; the log-prob uses the sample
    if normalize_obs:
        env = NormalizeObservation(env)
    if normalize_reward:
        env = NormalizeReward(env, gamma=gamma)
    return env


def make_vector_env(
    env_key: str,
    num_envs: int,
    *,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_env` stepped in lock-step, SAME_STEP autoreset.

    ``max_episode_steps`` replaces the registered time limit (None: keep it); the lessons
    shorten it so that a time-limit cut fits in a short table.

    Sync, not async: the environments here step in microseconds, far less than a process
    round-trip, and the trainer already runs beside the app server on two cores.
    """
    if env_key not in ENVIRONMENTS:
        raise ValueError(f"env_id: unknown environment {env_key!r}; choose one of {sorted(ENVIRONMENTS)}")
    if env_key == "CartPole-v1" and not (normalize_obs or normalize_reward):
        limit = max_episode_steps or gym.spec("CartPole-v1").max_episode_steps
        return VectorRecordEpisodeStatistics(SameStepCartPoleVectorEnv(num_envs, max_episode_steps=limit))
    return gym.vector.SyncVectorEnv(
        [
            (lambda: make_env(env_key, normalize_obs=normalize_obs, normalize_reward=normalize_reward, gamma=gamma,
                              max_episode_steps=max_episode_steps))
            for _ in range(num_envs)
        ],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )


def episode_stats(info: dict) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the episodes that ended this step (from RecordEpisodeStatistics,
    per sub-environment inside SyncVectorEnv, or on the vector for the NumPy CartPole)."""
    if "episode" in info:
        mask = info["_episode"]
        return info["episode"]["r"][mask].astype(np.float64), info["episode"]["l"][mask].astype(np.int64)
    final_info = info.get("final_info")
    if not final_info or "episode" not in final_info:
        return np.empty(0), np.empty(0, dtype=np.int64)
    mask = final_info["_episode"]
    return final_info["episode"]["r"][mask].astype(np.float64), final_info["episode"]["l"][mask].astype(np.int64)
