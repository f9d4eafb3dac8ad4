"""Step 3 of the PPO pseudocode: run π_θk in the environments and keep what the update needs.

Storage is time-first, ``(num_steps, num_envs, ...)`` as in CleanRL. During collection only
the actor runs, once per vector step, to sample actions; the critic's values and the
log-probabilities of the taken actions are computed afterwards in one batched pass
(:func:`evaluate_rollout`) — the networks do not change during a rollout, so the numbers are
the same, the per-step cost is halved, and the old log-probabilities log π_θk are computed
exactly as the update computes the new ones (so the first ratio of an update is exactly 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from .envs import episode_stats
from .networks import ActorCritic

__all__ = ["Rollout", "collect_rollout", "evaluate_rollout"]


@dataclass
class Rollout:
    """One batch D_k. T = num_steps, N = num_envs."""

    obs: torch.Tensor  # (T, N, obs_dim) float32: s_t
    actions: torch.Tensor  # (T, N) int64 or (T, N, act_dim) float32: a_t as sampled
    rewards: np.ndarray  # (T, N) float64: r_t as the agent sees them (after any reward scaling)
    terminated: np.ndarray  # (T, N) bool: the episode ended in the MDP after step t
    truncated: np.ndarray  # (T, N) bool: a time limit cut the episode after step t
    next_obs: torch.Tensor  # (N, obs_dim): s_T, the observation after the last step
    final_obs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (t, n) -> last obs of a truncated episode
    episode_returns: list[float] = field(default_factory=list)  # episodes that ended during this rollout
    episode_lengths: list[int] = field(default_factory=list)
    # Filled by evaluate_rollout:
    log_probs: torch.Tensor | None = None  # (T, N): log π_θk(a_t|s_t)
    values: np.ndarray | None = None  # (T, N): V(s_t)
    final_values: np.ndarray | None = None  # (T, N): V(final obs) where truncated, else 0
    last_value: np.ndarray | None = None  # (N,): V(s_T)

    @property
    def dones(self) -> np.ndarray:
        return self.terminated | self.truncated


def collect_rollout(
    envs: gym.vector.VectorEnv, agent: ActorCritic, obs: np.ndarray, num_steps: int, sde_sample_freq: int | None = None
) -> Rollout:
    """Step the vector environment ``num_steps`` times from ``obs`` with actions sampled from
    the agent's policy. ``obs`` is (N, obs_dim); the rollout's ``next_obs`` continues from it.

    With a gSDE agent, new exploration noise is drawn at the start of the rollout and then every
    ``sde_sample_freq`` steps (0 or None: only at the start)."""
    n = envs.num_envs
    obs_buf = np.empty((num_steps, n, *obs.shape[1:]), dtype=np.float32)  # NumPy: a cheaper per-step write
    actions: np.ndarray | None = None  # (T, N, ...) allocated at the first step, in the actions' dtype
    rewards = np.empty((num_steps, n))
    terminated = np.empty((num_steps, n), dtype=bool)
    truncated = np.empty((num_steps, n), dtype=bool)
    rollout_final: dict[tuple[int, int], np.ndarray] = {}
    ep_returns: list[float] = []
    ep_lengths: list[int] = []
    # inference_mode: no gradient is ever taken through the rollout, and under it torch skips
    # autograd's bookkeeping on every tensor (6 % of the cartpole preset's wall time, farm-bench,
    # 4 pairs). Its tensors cannot enter a graph later, so none is kept: the rollout's tensors
    # are made from the NumPy buffers below.
    with torch.inference_mode():
        for t in range(num_steps):
            if agent.sde and (t == 0 or (sde_sample_freq and t % sde_sample_freq == 0)):
                agent.resample_noise(n)
            obs_buf[t] = obs
            action = agent.act(torch.from_numpy(obs_buf[t])).numpy()
            if actions is None:
                actions = np.empty((num_steps, *action.shape), dtype=action.dtype)
            actions[t] = action
            obs, reward, term, trunc, info = envs.step(action)
            rewards[t] = reward
            terminated[t] = term
            truncated[t] = trunc
            if "final_obs" in info:
                ended = info["_final_obs"]
                for i in np.flatnonzero(ended & trunc & ~term):
                    rollout_final[(t, int(i))] = info["final_obs"][i]
                r, l = episode_stats(info)
                ep_returns.extend(r.tolist())
                ep_lengths.extend(l.tolist())
    return Rollout(
        obs=torch.from_numpy(obs_buf),
        actions=torch.from_numpy(actions),
        rewards=rewards,
        terminated=terminated,
        truncated=truncated & ~terminated,
        next_obs=torch.as_tensor(obs, dtype=torch.float32),
        final_obs=rollout_final,
        episode_returns=ep_returns,
        episode_lengths=ep_lengths,
    )


@torch.no_grad()
def evaluate_rollout(agent: ActorCritic, rollout: Rollout) -> Rollout:
    """Fill ``log_probs``, ``values``, ``final_values`` and ``last_value`` in one batched pass."""
    t_len, n = rollout.rewards.shape
    flat_obs = rollout.obs.reshape(t_len * n, -1)
    flat_actions = rollout.actions.reshape(t_len * n, *rollout.actions.shape[2:])
    rollout.log_probs = agent.distribution(flat_obs).log_prob(flat_actions).reshape(t_len, n)
    extra = [rollout.next_obs]
    if rollout.final_obs:
        extra.append(torch.as_tensor(np.stack(list(rollout.final_obs.values())), dtype=torch.float32))
    all_values = agent.value(torch.cat([flat_obs, *extra])).double().numpy()
    rollout.values = all_values[: t_len * n].reshape(t_len, n)
    rollout.last_value = all_values[t_len * n : t_len * n + n]
    rollout.final_values = np.zeros((t_len, n))
    for (t, i), v in zip(rollout.final_obs, all_values[t_len * n + n :]):
        rollout.final_values[t, i] = v
    return rollout
