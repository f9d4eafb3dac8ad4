"""The environments the presets train on, built from Gymnasium's own wrappers.

Every training environment is a Gymnasium vector environment with
``autoreset_mode=SAME_STEP``: when a sub-environment ends, the observation returned is already
the first of the next episode and the last one is in ``info["final_obs"]``. The default
NEXT_STEP mode would hand a CleanRL-style loop one junk transition per episode end.

CartPole, Acrobot, the continuous Pendulum and MountainCarContinuous are stepped by NumPy for
all environments at once (Gymnasium's CartPoleVectorEnv, and ppo_core's three below, each
checked step by step against Gymnasium's), wrapped on the vector, innermost first:
    the NumPy environment (its time limit)  →  RecordEpisodeStatistics (returns as the
    preset's target is stated)  →  ClipAction (continuous)  →  SameStepNormalizeObservation
    →  NormalizeReward (each normaliser when asked for).
Each normaliser keeps one running statistic for all environments, as Stable-Baselines3's
VecNormalize does. Gymnasium's vector NormalizeReward supports SAME_STEP; its vector
NormalizeObservation does not (it would leave ``final_obs``, which the time-limit bootstrap feeds
to the critic, unscaled), hence ppo_core's own.

The discretised Pendulum keeps Gymnasium's environments in a SyncVectorEnv (the lesson pages read
its sub-environments), with the chain per sub-environment, innermost first:
    gym.make(id)  (TimeLimit)  →  the fixed transforms (five torques, scaled velocity and reward)
    →  RecordEpisodeStatistics  →  ClipAction (continuous)  →  NormalizeObservation /
    NormalizeReward (when asked for).
:func:`make_env` builds that chain for one environment of any kind: the episode player renders in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.utils import RunningMeanStd
from gymnasium.wrappers.vector import ClipAction as VectorClipAction
from gymnasium.wrappers.vector import NormalizeReward as VectorNormalizeReward
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


def _final_observations(obs: np.ndarray, ended: np.ndarray) -> dict:
    """``info["final_obs"]`` and its mask, laid out as SyncVectorEnv does in SAME_STEP mode: an
    object array holding the last observation of each environment that ended this step."""
    final_obs = np.empty(len(obs), dtype=object)
    for i in np.flatnonzero(ended):
        final_obs[i] = obs[i]
    return {"final_obs": final_obs, "_final_obs": ended}


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
            info = {**info, **_final_observations(obs, ended)}
            self.state[:, ended] = self.np_random.uniform(self.low, self.high, size=(4, int(ended.sum())))
            self.steps[ended] = 0
            # The parent would reset these at the next call and hand back a zero-reward step.
            self.prev_done[:] = False
            obs = self.state.T.astype(np.float32)
        return obs, reward, terminated, truncated, info


class _SameStepNumpyVectorEnv(gym.vector.VectorEnv):
    """What ppo_core's NumPy environments share: the spaces, a step count per environment for
    the time limit, and the SAME_STEP autoreset (an ended environment restarts in the step that
    ended it; its last observation goes to ``info["final_obs"]``, as SyncVectorEnv puts it).

    A subclass holds every environment's state in ``self.state`` (one row each), draws starts in
    ``_starts(n)``, reads observations in ``_observations()`` and, in ``step``, updates the state
    and returns ``self._end_step(reward, terminated)``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int, max_episode_steps: int, observation_space: gym.spaces.Box, action_space: gym.Space):
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = observation_space
        self.observation_space = gym.vector.utils.batch_space(observation_space, num_envs)
        self.single_action_space = action_space
        self.action_space = gym.vector.utils.batch_space(action_space, num_envs)
        self.steps = np.zeros(num_envs, dtype=np.int64)

    def _starts(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _observations(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = self._starts(self.num_envs)
        self.steps[:] = 0
        return self._observations(), {}

    def _end_step(self, reward: np.ndarray, terminated: np.ndarray):
        """Count the step, cut episodes at the time limit and restart the ended environments."""
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        obs = self._observations()
        info: dict = {}
        ended = terminated | truncated
        if ended.any():
            info = _final_observations(obs, ended)
            self.state[ended] = self._starts(int(ended.sum()))
            self.steps[ended] = 0
            obs = self._observations()
        return obs, reward, terminated, truncated, info


class SameStepAcrobotVectorEnv(_SameStepNumpyVectorEnv):
    """Acrobot-v1 for ``num_envs`` environments stepped by one NumPy expression.

    Written here because Gymnasium has no vectorised Acrobot, and its per-environment step (a
    Runge-Kutta integration written for one state at a time in Python) was 69 % of the acrobot
    preset's training time (cProfile, 16 environments). The dynamics are Gymnasium's: the book's
    equations of motion, one RK4 step of dt = 0.2 s, angles wrapped to [−π, π], velocities bounded
    by 4π and 9π, reward −1 per step until the tip is a link's length above the pivot, starts
    uniform in ±0.1; tests/test_envs.py checks them against ``gym.make("Acrobot-v1")``.
    """

    DT = 0.2
    MAX_VEL_1, MAX_VEL_2 = 4 * np.pi, 9 * np.pi
    TORQUES = np.array([-1.0, 0.0, 1.0])

    def __init__(self, num_envs: int, max_episode_steps: int = 500):
        high = np.array([1.0, 1.0, 1.0, 1.0, self.MAX_VEL_1, self.MAX_VEL_2], dtype=np.float32)
        super().__init__(num_envs, max_episode_steps, gym.spaces.Box(-high, high, dtype=np.float32), gym.spaces.Discrete(3))
        self.state = np.zeros((num_envs, 4))  # θ1, θ2, dθ1, dθ2 per environment

    def _starts(self, n: int) -> np.ndarray:
        return self.np_random.uniform(-0.1, 0.1, size=(n, 4)).astype(np.float32).astype(np.float64)

    def _observations(self) -> np.ndarray:
        s = self.state.T
        return np.stack([np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]], axis=1).astype(np.float32)

    @staticmethod
    def _derivatives(s: np.ndarray, torque: np.ndarray) -> np.ndarray:
        """ds/dt of every environment's state s = (θ1, θ2, dθ1, dθ2), shape (4, N): Gymnasium's
        equations, term for term and in its order."""
        m1 = m2 = l1 = i1 = i2 = 1.0
        lc1 = lc2 = 0.5
        g = 9.8
        theta1, theta2, dtheta1, dtheta2 = s
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + i2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - np.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - np.pi / 2)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])

    def step(self, action):
        torque = self.TORQUES[np.asarray(action)]
        s = self.state.T  # (4, N)
        dt, dt2 = self.DT, self.DT / 2.0
        k1 = self._derivatives(s, torque)
        k2 = self._derivatives(s + dt2 * k1, torque)
        k3 = self._derivatives(s + dt2 * k2, torque)
        k4 = self._derivatives(s + dt * k3, torque)
        ns = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        for i in (0, 1):  # wrap the angles into [−π, π] as Gymnasium does, by whole turns
            while (ns[i] > np.pi).any():
                ns[i] = np.where(ns[i] > np.pi, ns[i] - 2 * np.pi, ns[i])
            while (ns[i] < -np.pi).any():
                ns[i] = np.where(ns[i] < -np.pi, ns[i] + 2 * np.pi, ns[i])
        ns[2] = np.clip(ns[2], -self.MAX_VEL_1, self.MAX_VEL_1)
        ns[3] = np.clip(ns[3], -self.MAX_VEL_2, self.MAX_VEL_2)
        self.state = ns.T.copy()
        terminated = -np.cos(ns[0]) - np.cos(ns[1] + ns[0]) > 1.0
        return self._end_step(np.where(terminated, 0.0, -1.0), terminated)


class SameStepPendulumVectorEnv(_SameStepNumpyVectorEnv):
    """Pendulum-v1 (continuous torque) for ``num_envs`` environments stepped by one NumPy expression.

    Written here because Gymnasium has no vectorised Pendulum: its one-pendulum step in Python,
    behind a SyncVectorEnv and a wrapper chain per environment, was most of the pendulum preset's
    rollout time. The dynamics are Gymnasium's: torque clipped to ±2, cost θ² + 0.1·θ̇² + 0.001·u²
    (θ wrapped to [−π, π)), θ̇ += (3g/2l·sin θ + 3/ml²·u)·dt bounded by ±8, then θ += θ̇·dt, with
    g = 10, m = l = 1, dt = 0.05; starts uniform in θ ∈ [−π, π], θ̇ ∈ [−1, 1]; never terminates,
    cut by the time limit. tests/test_envs.py checks it against ``gym.make("Pendulum-v1")``.
    """

    MAX_SPEED, MAX_TORQUE, DT, G, M, L = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    def __init__(self, num_envs: int, max_episode_steps: int = 200):
        high = np.array([1.0, 1.0, self.MAX_SPEED], dtype=np.float32)
        torque = gym.spaces.Box(-self.MAX_TORQUE, self.MAX_TORQUE, (1,), np.float32)
        super().__init__(num_envs, max_episode_steps, gym.spaces.Box(-high, high, dtype=np.float32), torque)
        self.state = np.zeros((num_envs, 2))  # θ, θ̇ per environment

    def _starts(self, n: int) -> np.ndarray:
        return self.np_random.uniform(-np.array([np.pi, 1.0]), np.array([np.pi, 1.0]), size=(n, 2))

    def _observations(self) -> np.ndarray:
        theta, theta_dot = self.state.T
        return np.stack([np.cos(theta), np.sin(theta), theta_dot], axis=1).astype(np.float32)

    def step(self, action):
        u = np.clip(np.asarray(action, dtype=np.float32)[:, 0], -self.MAX_TORQUE, self.MAX_TORQUE)
        theta, theta_dot = self.state.T
        wrapped = (theta + np.pi) % (2 * np.pi) - np.pi
        cost = wrapped**2 + 0.1 * theta_dot**2 + 0.001 * u**2
        new_theta_dot = theta_dot + (3 * self.G / (2 * self.L) * np.sin(theta) + 3.0 / (self.M * self.L**2) * u) * self.DT
        new_theta_dot = np.clip(new_theta_dot, -self.MAX_SPEED, self.MAX_SPEED)
        self.state = np.stack([theta + new_theta_dot * self.DT, new_theta_dot], axis=1)
        return self._end_step(-cost, np.zeros(self.num_envs, dtype=bool))


class SameStepMountainCarContinuousVectorEnv(_SameStepNumpyVectorEnv):
    """MountainCarContinuous-v0 for ``num_envs`` cars stepped by one NumPy expression.

    Written here because Gymnasium has no vectorised MountainCarContinuous, and its one-car step
    with a normaliser in each environment was 75 % of the preset's training time (cProfile, 16
    environments). The dynamics are Gymnasium's, in its float32 arithmetic: force clipped to ±1,
    v += 0.0015·force − 0.0025·cos(3x) bounded by ±0.07, x += v bounded to [−1.2, 0.6] (stopped at
    the left wall), done when x ≥ 0.45 with v ≥ 0; reward 100 at the goal minus 0.1·action²;
    starts x uniform in [−0.6, −0.4], v = 0. tests/test_envs.py checks it against
    ``gym.make("MountainCarContinuous-v0")``.
    """

    MIN_POSITION, MAX_POSITION, MAX_SPEED, GOAL_POSITION, POWER = -1.2, 0.6, 0.07, 0.45, 0.0015

    def __init__(self, num_envs: int, max_episode_steps: int = 999):
        low = np.array([self.MIN_POSITION, -self.MAX_SPEED], dtype=np.float32)
        high = np.array([self.MAX_POSITION, self.MAX_SPEED], dtype=np.float32)
        force = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        super().__init__(num_envs, max_episode_steps, gym.spaces.Box(low, high, dtype=np.float32), force)
        self.state = np.zeros((num_envs, 2), dtype=np.float32)  # position, velocity per car

    def _starts(self, n: int) -> np.ndarray:
        return np.stack([self.np_random.uniform(-0.6, -0.4, size=n), np.zeros(n)], axis=1).astype(np.float32)

    def _observations(self) -> np.ndarray:
        return self.state.copy()

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)[:, 0]
        force = np.clip(action, -1.0, 1.0)
        position, velocity = self.state[:, 0], self.state[:, 1]
        # cos in float64, as math.cos in Gymnasium's step, then float32 like the rest of it
        gravity = (0.0025 * np.cos(3 * position.astype(np.float64))).astype(np.float32)
        velocity = np.clip(velocity + (force * np.float32(self.POWER) - gravity), -self.MAX_SPEED, self.MAX_SPEED)
        position = np.clip(position + velocity, self.MIN_POSITION, self.MAX_POSITION)
        velocity = np.where((position == np.float32(self.MIN_POSITION)) & (velocity < 0), np.float32(0.0), velocity)
        terminated = (position >= self.GOAL_POSITION) & (velocity >= 0)
        self.state = np.stack([position, velocity], axis=1).astype(np.float32)
        return self._end_step(np.where(terminated, 100.0, 0.0) - action.astype(np.float64) ** 2 * 0.1, terminated)


class SameStepNormalizeObservation(gym.vector.VectorWrapper):
    """Observations centred and scaled by one running mean and variance for all environments,
    final observations included.

    Written here because Gymnasium's vector ``NormalizeObservation`` refuses SAME_STEP autoreset:
    it would leave ``info["final_obs"]`` raw, and the trainer's time-limit bootstrap feeds those
    to the critic. The statistics are Gymnasium's ``RunningMeanStd``, updated (as its wrapper
    does) with each step's observations before they are scaled; a final observation is scaled
    with the same statistics. ``obs_rms`` is the attribute Gymnasium's wrappers use, so a saved
    policy's statistics are read the same way from either.
    """

    def __init__(self, env: gym.vector.VectorEnv, epsilon: float = 1e-8):
        super().__init__(env)
        self.obs_rms = RunningMeanStd(shape=self.single_observation_space.shape)
        self.epsilon = epsilon
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, self.single_observation_space.shape, np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    def _scale(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.obs_rms.update(obs)
        return self._scale(obs), info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self.obs_rms.update(obs)
        if "final_obs" in info:
            final_obs = info["final_obs"].copy()
            for i in np.flatnonzero(info["_final_obs"]):
                final_obs[i] = self._scale(final_obs[i])
            info = {**info, "final_obs": final_obs}
        return self._scale(obs), reward, terminated, truncated, info


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
    """One Gymnasium environment with the per-environment chain of the module docstring.

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


# The environments stepped by NumPy for all environments at once (the discretised Pendulum is
# not: the lesson pages read its Gymnasium sub-environments).
NUMPY_VECTOR_ENVS: dict[str, type[gym.vector.VectorEnv]] = {
    "CartPole-v1": SameStepCartPoleVectorEnv,
    "Acrobot-v1": SameStepAcrobotVectorEnv,
    "Pendulum-v1": SameStepPendulumVectorEnv,
    "MountainCarContinuous-v0": SameStepMountainCarContinuousVectorEnv,
}


def make_vector_env(
    env_key: str,
    num_envs: int,
    *,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """``num_envs`` environments stepped in lock-step, SAME_STEP autoreset: the NumPy ones
    where ppo_core has them, else ``num_envs`` copies of :func:`make_env`.

    ``max_episode_steps`` replaces the registered time limit (None: keep it); the lessons
    shorten it so that a time-limit cut fits in a short table.

    Sync, not async: the environments here step in microseconds, far less than a process
    round-trip, and the trainer already runs beside the app server on two cores.
    """
    if env_key not in ENVIRONMENTS:
        raise ValueError(f"env_id: unknown environment {env_key!r}; choose one of {sorted(ENVIRONMENTS)}")
    numpy_env = NUMPY_VECTOR_ENVS.get(env_key)
    if numpy_env is not None:
        limit = max_episode_steps or gym.spec(ENVIRONMENTS[env_key].gym_id).max_episode_steps
        envs = VectorRecordEpisodeStatistics(numpy_env(num_envs, max_episode_steps=limit))
        if ENVIRONMENTS[env_key].continuous:
            envs = VectorClipAction(envs)
        if normalize_obs:
            envs = SameStepNormalizeObservation(envs)
        if normalize_reward:
            envs = VectorNormalizeReward(envs, gamma=gamma)
        return envs
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
