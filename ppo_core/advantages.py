"""Steps 4 and 5 of the PPO pseudocode: rewards-to-go and advantage estimates.

Arrays are time-first: a 1-D array of length T for one environment, or (T, N) for N parallel
environments. ``dones[t]`` true means the episode ended after step t (terminated *or* truncated).

Truncation by a time limit is not termination: the episode did not end in the MDP, it was cut.
Where the caller knows a step was truncated it passes ``truncated`` and ``final_values``
(V of the observation the episode was cut at), and the target for that step bootstraps from it:
r_t + γ V(s_final). A terminated step bootstraps from nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rewards_to_go", "gae", "td_errors", "bootstrapped_rewards", "normalize_advantages"]


def _as_time_first(rewards, dones, last_value):
    rewards = np.asarray(rewards, dtype=np.float64)
    dones = np.asarray(dones, dtype=bool)
    if rewards.shape != dones.shape:
        raise ValueError(f"rewards {rewards.shape} and dones {dones.shape} must have the same shape")
    if rewards.ndim not in (1, 2):
        raise ValueError(f"rewards must be (T,) or (T, N), got {rewards.shape}")
    last = np.broadcast_to(np.asarray(last_value, dtype=np.float64), rewards.shape[1:])
    return rewards, dones, last


def bootstrapped_rewards(rewards, gamma, truncated=None, final_values=None) -> np.ndarray:
    """r_t + γ·V(s_final,t) where step t was truncated, r_t elsewhere.

    Folding the time-limit bootstrap into the reward lets every estimator below treat an
    ended episode the same way (no value flows across ``dones``) while a truncated one
    still gets the value of where it was cut. Shapes: all (T,) or (T, N).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if truncated is None:
        return rewards
    if final_values is None:
        raise ValueError("final_values is required where truncated is given")
    truncated = np.asarray(truncated, dtype=bool)
    final_values = np.asarray(final_values, dtype=np.float64)
    return rewards + gamma * np.where(truncated, final_values, 0.0)


def rewards_to_go(rewards, dones, gamma, last_value=0.0, *, truncated=None, final_values=None) -> np.ndarray:
    """Discounted rewards-to-go, computed backwards from the end of the batch.

        R̂_{T-1} = r_{T-1} + γ (1 − d_{T-1}) · last_value
        R̂_t     = r_t + γ (1 − d_t) · R̂_{t+1}

    ``last_value`` is V(s_T), the value of the observation after the batch's last step (the
    batch cut the episode, so we bootstrap); a scalar, or shape (N,) for (T, N) inputs.
    Returns float64 of the same shape as ``rewards``.
    """
    rewards, dones, last = _as_time_first(rewards, dones, last_value)
    rewards = bootstrapped_rewards(rewards, gamma, truncated, final_values)
    out = np.empty_like(rewards)
    running = last.copy()
    not_done = 1.0 - dones
    # A Python loop over T: a discounted sum that resets at episode ends has no NumPy primitive
    # (scipy's lfilter trick cannot reset), and T is a few hundred at most.
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * not_done[t] * running
        out[t] = running
    return out


def td_errors(rewards, values, dones, gamma, last_value=0.0, *, truncated=None, final_values=None) -> np.ndarray:
    """One-step TD errors δ_t = r_t + γ (1 − d_t) V(s_{t+1}) − V(s_t).

    V(s_{t+1}) is ``values[t+1]`` inside the batch and ``last_value`` after its last step.
    """
    rewards, dones, last = _as_time_first(rewards, dones, last_value)
    values = np.asarray(values, dtype=np.float64)
    rewards = bootstrapped_rewards(rewards, gamma, truncated, final_values)
    next_values = np.concatenate([values[1:], last[None]], axis=0)
    return rewards + gamma * (1.0 - dones) * next_values - values


def gae(rewards, values, dones, gamma, lam, last_value=0.0, *, truncated=None, final_values=None) -> np.ndarray:
    """Generalised advantage estimates (Schulman et al. 2016).

        δ_t = r_t + γ (1 − d_t) V(s_{t+1}) − V(s_t)
        A_t = δ_t + γ λ (1 − d_t) A_{t+1},   A_T = 0

    λ = 0 gives A_t = δ_t (one-step TD); λ = 1 gives A_t = R̂_t − V(s_t), with R̂ from
    :func:`rewards_to_go` on the same arguments. Shapes as :func:`rewards_to_go`; ``values``
    has the shape of ``rewards``. Returns float64 advantages; returns = advantages + values.
    """
    deltas = td_errors(rewards, values, dones, gamma, last_value, truncated=truncated, final_values=final_values)
    decay = gamma * lam * (1.0 - np.asarray(dones, dtype=np.float64))
    out = np.empty_like(deltas)
    running = np.zeros(deltas.shape[1:])
    for t in range(deltas.shape[0] - 1, -1, -1):  # same reason as in rewards_to_go
        running = deltas[t] + decay[t] * running
        out[t] = running
    return out


def normalize_advantages(advantages, eps: float = 1e-8):
    """(A − mean A) / (std A + eps), NumPy or torch; a single sample is returned centred only.

    PPO normalises per minibatch; with one sample the standard deviation is undefined, so the
    guard returns A − mean A (zero) rather than a NaN.
    """
    n = advantages.numel() if hasattr(advantages, "numel") else np.size(advantages)
    centred = advantages - advantages.mean()
    if n < 2:
        return centred
    if hasattr(advantages, "numel"):
        return centred / (advantages.std() + eps)
    return centred / (np.std(advantages, ddof=1) + eps)
