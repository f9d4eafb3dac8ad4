"""Step 6 and 7 of the PPO pseudocode: the surrogate objectives and the losses built on them.

``ratio`` is r_t(θ) = π_θ(a_t|s_t) / π_θk(a_t|s_t), computed as exp(log π_θ − log π_θk).
Functions marked "NumPy or torch" return the type they were given, so the lesson pages and
the trainer call the very same formula.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "clipped_term",
    "clipped_objective",
    "kl_penalty_objective",
    "surrogate_objective",
    "adaptive_beta",
    "approx_kl",
    "clip_fraction",
    "clip_binds",
    "value_loss",
    "explained_variance",
]


def _is_torch(*xs) -> bool:
    return any(isinstance(x, torch.Tensor) for x in xs)


def clipped_term(ratio, advantage, eps):
    """The clipped branch of L^CLIP per sample: clip(r, 1−ε, 1+ε)·A, elementwise. NumPy or torch."""
    if _is_torch(ratio, advantage):
        return torch.clamp(torch.as_tensor(ratio), 1.0 - eps, 1.0 + eps) * advantage
    return np.clip(np.asarray(ratio, dtype=np.float64), 1.0 - eps, 1.0 + eps) * np.asarray(advantage, dtype=np.float64)


def clipped_objective(ratio, advantage, eps):
    """L^CLIP per sample: min(r·A, clip(r, 1−ε, 1+ε)·A), elementwise. NumPy or torch.

    For A > 0 the objective stops growing once r > 1+ε; for A < 0 once r < 1−ε. There the
    minimum picks the clipped, constant term (:func:`clipped_term`) and the gradient with
    respect to θ is zero.
    """
    if _is_torch(ratio, advantage):
        ratio = torch.as_tensor(ratio)
        return torch.minimum(ratio * advantage, clipped_term(ratio, advantage, eps))
    ratio = np.asarray(ratio, dtype=np.float64)
    advantage = np.asarray(advantage, dtype=np.float64)
    return np.minimum(ratio * advantage, clipped_term(ratio, advantage, eps))


def clip_binds(ratio, advantage, eps):
    """True where L^CLIP takes its clipped branch, so the sample passes no gradient.

    That is r > 1+ε with A > 0, or r < 1−ε with A < 0. NumPy or torch (boolean).
    """
    if _is_torch(ratio, advantage):
        return ((ratio > 1.0 + eps) & (advantage > 0)) | ((ratio < 1.0 - eps) & (advantage < 0))
    ratio = np.asarray(ratio, dtype=np.float64)
    advantage = np.asarray(advantage, dtype=np.float64)
    return ((ratio > 1.0 + eps) & (advantage > 0)) | ((ratio < 1.0 - eps) & (advantage < 0))


def kl_penalty_objective(ratio, advantage, kl, beta):
    """L^KLPEN per sample: r·A − β·KL[π_θk ‖ π_θ]. NumPy or torch.

    ``kl`` is a per-sample estimate of the divergence (see :func:`approx_kl` with
    ``reduce=False``) or a scalar; β is adapted between updates by :func:`adaptive_beta`.
    """
    if _is_torch(ratio, advantage, kl):
        return ratio * advantage - beta * kl
    return np.asarray(ratio, dtype=np.float64) * np.asarray(advantage, dtype=np.float64) - beta * np.asarray(kl, dtype=np.float64)


def surrogate_objective(objective: str, ratio, advantage, *, eps: float, beta: float | None = None, log_ratio=None):
    """The per-sample policy objective a run trains, by its config's ``objective``. NumPy or torch.

        "clip"        L^CLIP = min(r·A, clip(r, 1−ε, 1+ε)·A)      (:func:`clipped_objective`)
        "kl_penalty"  L^KLPEN = r·A − β·KL, KL = (r − 1) − log r   (:func:`kl_penalty_objective`)
        "none"        r·A, the unclipped surrogate

    ``log_ratio`` (log r, as the trainer has it) defaults to log(ratio). The trainer's loss and the
    live page's plot of the latest batch both call this, so the dots sit on the objective trained.
    """
    if objective == "clip":
        return clipped_objective(ratio, advantage, eps)
    if not _is_torch(ratio, advantage):
        ratio, advantage = np.asarray(ratio, dtype=np.float64), np.asarray(advantage, dtype=np.float64)
    if objective == "none":
        return ratio * advantage
    if objective == "kl_penalty":
        if log_ratio is None:
            log_ratio = torch.log(ratio) if _is_torch(ratio) else np.log(ratio)
        return kl_penalty_objective(ratio, advantage, approx_kl(log_ratio, reduce=False), beta)
    raise ValueError(f"objective: must be one of clip, kl_penalty, none; got {objective!r}")


def adaptive_beta(beta: float, kl: float, kl_target: float) -> float:
    """The adaptive KL-penalty rule of the PPO paper, applied after each update:

        d > 1.5·d_targ  →  β ← 2β     (the policy moved too far: penalise more)
        d < d_targ/1.5  →  β ← β/2    (it barely moved: penalise less)
        otherwise          β unchanged
    """
    if kl > 1.5 * kl_target:
        return beta * 2.0
    if kl < kl_target / 1.5:
        return beta / 2.0
    return beta


def approx_kl(log_ratio, reduce: bool = True):
    """KL[π_θk ‖ π_θ] estimated from samples of π_θk: mean((r − 1) − log r). NumPy or torch.

    The (r − 1) − log r estimator is unbiased and never negative (John Schulman, "Approximating
    KL divergence"); CleanRL and Stable-Baselines3 log it as ``approx_kl``.
    """
    if _is_torch(log_ratio):
        per_sample = (torch.exp(log_ratio) - 1.0) - log_ratio
    else:
        log_ratio = np.asarray(log_ratio, dtype=np.float64)
        per_sample = np.expm1(log_ratio) - log_ratio
    return per_sample.mean() if reduce else per_sample


def clip_fraction(ratio, eps):
    """Fraction of samples whose ratio lies outside [1−ε, 1+ε] (CleanRL's ``clipfrac``)."""
    if _is_torch(ratio):
        return ((ratio - 1.0).abs() > eps).float().mean()
    return float(np.mean(np.abs(np.asarray(ratio, dtype=np.float64) - 1.0) > eps))


def value_loss(values, returns, old_values=None, clip_range=None):
    """Step 7: ½·mean((V(s) − R̂)²), torch.

    With ``clip_range`` the new value may move at most ±clip_range from ``old_values`` and the
    larger of the clipped and unclipped squared errors is taken (the PPO2 value clipping).
    """
    unclipped = (values - returns) ** 2
    if clip_range is None:
        return 0.5 * unclipped.mean()
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    return 0.5 * torch.maximum(unclipped, (clipped_values - returns) ** 2).mean()


def explained_variance(predicted, target) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is a perfect value fit, 0 no better than
    a constant, negative worse. NaN where the target has no variance."""
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    target = np.asarray(target, dtype=np.float64).ravel()
    var = np.var(target)
    return float("nan") if var == 0 else float(1.0 - np.var(target - predicted) / var)
