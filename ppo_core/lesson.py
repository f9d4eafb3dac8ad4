"""Small computations the lesson pages show, built on the same code the trainer runs.

Nothing here is a second implementation: rollouts come from :func:`collect_rollout`, values
from the trainer's critic, advantages from :mod:`ppo_core.advantages`, the update from
:meth:`PPOTrainer.update`. These functions compute the numbers a lesson shows, in columns
named by what they hold; naming them for a page (symbols, formats, words) is the page's side
(views.lesson_tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.distributions import Normal

from .presets import PRESETS
from .rollout import Rollout, collect_rollout, evaluate_rollout
from .trainer import Batch, PPOTrainer

__all__ = [
    "lesson_trainer",
    "lesson_rollout",
    "importance_sampling",
    "importance_sampling_variance",
    "importance_sampling_sweep",
    "UpdateTrace",
    "trace_update",
    "update_epochs_table",
    "update_epoch_samples",
    "objective_curves",
    "skip_to_time_limit",
    "skip_to_every_ending",
    "lesson_table_rollout",
    "rewards_to_go_table",
    "advantage_table",
    "gae_limits",
    "play_episode",
]


def lesson_trainer(
    preset: str, seed: int = 0, warmup_updates: int = 0, num_envs: int | None = None, max_episode_steps: int | None = None
) -> PPOTrainer:
    """A trainer on ``preset`` after ``warmup_updates`` ordinary PPO updates (0: untrained);
    ``max_episode_steps``: a shorter time limit than the environment's, warm-up included."""
    cfg = PRESETS[preset]
    changes = {"seed": seed}
    if num_envs is not None:
        changes["num_envs"] = num_envs
        changes["num_minibatches"] = min(cfg.num_minibatches, num_envs * cfg.num_steps // 2)
    trainer = PPOTrainer(cfg.replace(**changes), max_episode_steps=max_episode_steps)
    for _ in range(warmup_updates):
        trainer.train_one_update()
    return trainer


def lesson_rollout(trainer: PPOTrainer, num_steps: int, skip: int = 0) -> Rollout:
    """``num_steps`` steps of the trainer's policy in its environments after ``skip`` unrecorded
    steps (e.g. to show a time limit falling inside a short table), evaluated by its critic."""
    if skip:
        trainer.obs = collect_rollout(trainer.envs, trainer.agent, trainer.obs, skip).next_obs.numpy()
    rollout = collect_rollout(trainer.envs, trainer.agent, trainer.obs, num_steps)
    trainer.obs = rollout.next_obs.numpy()
    return evaluate_rollout(trainer.agent, rollout)


def importance_sampling_variance(shift: float, num_samples: int = 200) -> float:
    """The exact variance of :func:`importance_sampling`'s estimate, from its closed form.

    With x ~ p = N(0, 1), the weight w(x) = q(x)/p(x) = exp(s·x − s²/2) for q = N(s, 1), and the
    estimate μ̂ = (1/n) Σ_i w(x_i)·x_i of E_q[x] = s:

        p(x)·w(x)² = e^{s²} · N(x; 2s, 1)          (complete the square in the exponent)
        E_p[w² x²] = e^{s²} · E_{N(2s,1)}[x²] = e^{s²} (1 + 4s²)
        Var[μ̂]     = (E_p[w² x²] − (E_p[w x])²) / n = (e^{s²} (1 + 4s²) − s²) / n

    It grows like e^{s²}: faster than exponentially in the distance between p and q.
    """
    s = float(shift)
    return (np.exp(s * s) * (1.0 + 4.0 * s * s) - s * s) / num_samples


def importance_sampling(shift: float, num_samples: int = 200, trials: int = 200, seed: int = 0) -> dict:
    """Estimate E_{x~q}[f(x)] with samples from p, weighted by q(x)/p(x).

    p = N(0, 1) is the policy that collected the data; q = N(shift, 1) the one we want to
    evaluate; f(x) = x, so the true value is ``shift``. Returns the samples and weights of one
    trial, the estimate of every trial, their mean, and two variances of an estimate:

    - ``analytic_variance``: the exact one, :func:`importance_sampling_variance`;
    - ``sampled_variance``: the sample variance (ddof=1) of the ``trials`` estimates.

    The weights are heavy-tailed: most of the variance comes from rare samples far out on q's
    side, which a few hundred trials seldom draw, so far from p the sampled variance falls well
    below the exact one. The exact one grows like exp(shift²), which is why PPO keeps
    π_θ/π_θk near 1.
    """
    gen = torch.Generator().manual_seed(seed)
    p, q = Normal(0.0, 1.0), Normal(float(shift), 1.0)
    x = torch.randn((trials, num_samples), generator=gen, dtype=torch.float64)
    weights = (q.log_prob(x) - p.log_prob(x)).exp()
    estimates = (weights * x).mean(dim=1)
    return {
        "samples": x[0].numpy(),
        "weights": weights[0].numpy(),
        "estimates": estimates.numpy(),
        "true_value": float(shift),
        "mean_estimate": float(estimates.mean()),
        "analytic_variance": importance_sampling_variance(shift, num_samples),
        "sampled_variance": float(estimates.var()),
        "max_weight_share": float((weights[0].max() / weights[0].sum())),
    }


@dataclass
class UpdateTrace:
    """What one PPO update did to one batch, epoch by epoch (for the lesson's step-through)."""

    batch: Batch
    eps: float
    advantages: np.ndarray  # (B,) Â as the loss normalises them over the whole batch
    ratios: list[np.ndarray] = field(default_factory=list)  # ratios[k]: r after k epochs; ratios[0] ≡ 1
    action_probs: list[np.ndarray] = field(default_factory=list)  # π(a_t|s_t) after k epochs
    values: list[np.ndarray] = field(default_factory=list)  # V(s_t) after k epochs
    epoch_stats: list[dict] = field(default_factory=list)  # mean minibatch stats of epoch k+1
    clipped_in_epoch: list[np.ndarray] = field(default_factory=list)  # samples whose gradient the clip stopped
    learning_rate: float = float("nan")  # Adam's step size in this update (annealed, not the configured one)

    @property
    def returns(self) -> np.ndarray:
        return self.batch.returns.numpy()


def trace_update(trainer: PPOTrainer, batch: Batch | None = None) -> UpdateTrace:
    """Run one ordinary :meth:`PPOTrainer.update` on a fresh batch, recording every epoch."""
    from .advantages import normalize_advantages
    from .objectives import clip_binds

    if batch is None:
        batch = trainer.compute_advantages(trainer.collect())
    eps = trainer.config.clip_coef
    trace = UpdateTrace(batch=batch, eps=eps, advantages=normalize_advantages(batch.advantages).numpy())

    def snapshot() -> None:
        with torch.no_grad():
            log_probs = trainer.agent.distribution(batch.obs).log_prob(batch.actions)
            trace.ratios.append((log_probs - batch.log_probs).exp().numpy())
            trace.action_probs.append(log_probs.exp().numpy())
            trace.values.append(trainer.agent.value(batch.obs).numpy())

    clipped = np.zeros(len(batch), dtype=bool)

    def on_minibatch(epoch: int, idx: torch.Tensor, ratio: torch.Tensor) -> None:
        # the minibatch's own normalised advantages decide the sign, as in the loss
        adv = normalize_advantages(batch.advantages[idx]) if trainer.config.norm_adv else batch.advantages[idx]
        clipped[idx.numpy()] = clip_binds(ratio, adv, eps).numpy()

    def on_epoch(epoch: int, stats: dict) -> None:
        trace.epoch_stats.append(stats)
        trace.clipped_in_epoch.append(clipped.copy())
        clipped[:] = False
        snapshot()

    snapshot()
    # Read from the optimizer itself: with anneal_lr the trainer lowers it from update to update.
    trace.learning_rate = float(trainer.optimizer.param_groups[0]["lr"])
    trainer.update(batch, on_epoch=on_epoch, on_minibatch=on_minibatch)
    return trace


def objective_curves(eps: float, advantage: float, beta: float | None = None, r_min: float = 0.0, r_max: float = 2.0, num: int = 401) -> dict[str, np.ndarray]:
    """The per-sample objectives over a grid of ratios r, for one advantage A.

    ``clipped``: L^CLIP = min(rA, clip(r, 1−ε, 1+ε)A); ``unclipped``: rA; ``zero_gradient``:
    where the clip binds; with ``beta``, ``kl_penalty``: rA − β·((r − 1) − log r), the KL
    term being the per-sample estimate of :func:`approx_kl` at that ratio.
    """
    from .objectives import approx_kl, clip_binds, clipped_objective, kl_penalty_objective

    r = np.linspace(r_min, r_max, num)
    out = {
        "ratio": r,
        "unclipped": r * advantage,
        "clipped": clipped_objective(r, advantage, eps),
        "zero_gradient": clip_binds(r, advantage, eps),
    }
    if beta is not None:
        with np.errstate(divide="ignore"):
            kl = approx_kl(np.log(r), reduce=False)
        out["kl_penalty"] = kl_penalty_objective(r, advantage, kl, beta)
    return out


def update_epochs_table(trace: UpdateTrace) -> dict[str, np.ndarray]:
    """One row per epoch k = 0, 1, …, K of a traced update (k = 0: before any gradient step).

    Measured on the whole batch at the snapshot taken after epoch k, with r = π_θ/π_θk:

    - ``ratio_min``, ``ratio_max``: the smallest and largest r (both exactly 1 at k = 0)
    - ``approx_kl``: mean((r − 1) − log r), the KL[π_θk ‖ π_θ] estimate of :func:`approx_kl`
    - ``clip_fraction``: share of samples with |r − 1| > ε (:func:`clip_fraction`)
    - ``zero_gradient``: samples whose L^CLIP sits on its flat branch (:func:`clip_binds` with
      the batch-normalised Â), so the next epoch gets no gradient from them
    - ``explained_variance``: of V_φ after epoch k against the returns R̂
    - ``value_error``: ½·mean((V_φ − R̂)²), the unclipped :func:`value_loss` on the whole batch

    Logged during epoch k, as the loss saw each minibatch before its gradient step (the numbers
    :meth:`PPOTrainer.update` averages and CleanRL logs; NaN for k = 0):
    ``logged_approx_kl``, ``logged_clip_fraction``, ``policy_loss``, ``value_loss``, ``entropy``,
    and ``clipped_during``: how many samples the clip stopped in epoch k.
    """
    from .objectives import approx_kl, clip_binds, clip_fraction, explained_variance, value_loss

    epochs = len(trace.ratios)
    rows: dict[str, list] = {name: [] for name in (
        "epoch", "ratio_min", "ratio_max", "approx_kl", "clip_fraction", "zero_gradient", "explained_variance", "value_error",
        "logged_approx_kl", "logged_clip_fraction", "policy_loss", "value_loss", "entropy", "clipped_during",
    )}
    for k in range(epochs):
        ratio = trace.ratios[k].astype(np.float64)
        logged = trace.epoch_stats[k - 1] if k else {}
        rows["epoch"].append(k)
        rows["ratio_min"].append(float(ratio.min()))
        rows["ratio_max"].append(float(ratio.max()))
        rows["approx_kl"].append(float(approx_kl(np.log(ratio))))
        rows["clip_fraction"].append(clip_fraction(ratio, trace.eps))
        rows["zero_gradient"].append(int(clip_binds(ratio, trace.advantages, trace.eps).sum()))
        rows["explained_variance"].append(explained_variance(trace.values[k], trace.returns))
        rows["value_error"].append(float(value_loss(torch.as_tensor(trace.values[k]), trace.batch.returns)))
        rows["logged_approx_kl"].append(logged.get("approx_kl", np.nan))
        rows["logged_clip_fraction"].append(logged.get("clip_fraction", np.nan))
        for name in ("policy_loss", "value_loss", "entropy"):
            rows[name].append(logged.get(name, np.nan))
        rows["clipped_during"].append(int(trace.clipped_in_epoch[k - 1].sum()) if k else 0)
    return {name: np.asarray(values) for name, values in rows.items()}


def update_epoch_samples(trace: UpdateTrace, epoch: int) -> dict[str, np.ndarray]:
    """Every sample of a traced update after ``epoch`` epochs (0: before the update), per column:

    ``ratio`` r; ``advantage`` Â (batch-normalised); ``objective_per_unit`` L^CLIP(r, Â)/|Â|,
    which equals L^CLIP(r, sign Â) because the objective scales with |Â|, so every sample lands
    on the curve for A = +1 or A = −1; ``zero_gradient`` (the clip binds at r);
    ``clipped_during`` (the clip stopped it in this epoch); ``prob_before`` / ``prob_after``
    π(a_t|s_t) of the taken action (a density for a Gaussian policy); ``value_before`` /
    ``value_after`` V(s_t); ``returns`` R̂_t, the value network's target.
    """
    from .objectives import clip_binds, clipped_objective

    if not 0 <= epoch < len(trace.ratios):
        raise ValueError(f"epoch: must be between 0 and {len(trace.ratios) - 1}; got {epoch}")
    ratio = trace.ratios[epoch].astype(np.float64)
    adv = trace.advantages.astype(np.float64)
    clipped_during = trace.clipped_in_epoch[epoch - 1] if epoch else np.zeros(len(ratio), dtype=bool)
    return {
        "ratio": ratio,
        "advantage": adv,
        "objective_per_unit": clipped_objective(ratio, np.sign(adv), trace.eps),
        "zero_gradient": clip_binds(ratio, adv, trace.eps),
        "clipped_during": clipped_during.copy(),
        "prob_before": trace.action_probs[0].astype(np.float64),
        "prob_after": trace.action_probs[epoch].astype(np.float64),
        "value_before": trace.values[0].astype(np.float64),
        "value_after": trace.values[epoch].astype(np.float64),
        "returns": trace.returns.astype(np.float64),
    }


# -- pages 2 and 3: rewards-to-go, advantages ---------------------------------------------


def skip_to_time_limit(trainer: PPOTrainer, row: int, env_index: int = 0) -> int:
    """The ``skip`` for :func:`lesson_rollout` that makes the time limit cut environment
    ``env_index``'s current episode right after step ``row`` of the recorded rollout.

    With ``left`` steps before the limit, the cut comes after step ``left − 1`` counted from now,
    so ``skip = left − 1 − row`` (one episode length more if that is negative). Exact for an
    environment that never terminates (Pendulum); elsewhere a termination may come first.
    """
    from gymnasium.wrappers import TimeLimit

    base = trainer.envs.unwrapped
    if hasattr(base, "envs"):  # SyncVectorEnv: the TimeLimit sits inside each sub-environment
        env = base.envs[env_index]
        while not isinstance(env, TimeLimit):
            env = env.env
        limit, elapsed = env._max_episode_steps, env._elapsed_steps
    else:  # ppo_core's vectorised CartPole counts its own steps
        limit, elapsed = base.max_episode_steps, int(base.steps[env_index])
    skip = (limit - elapsed) - 1 - row
    return skip if skip >= 0 else skip + limit


def skip_to_every_ending(trainer: PPOTrainer, num_steps: int, search_steps: int = 3000, env_index: int = 0) -> int:
    """The ``skip`` for :func:`lesson_rollout` whose ``num_steps`` rows of environment
    ``env_index`` show all three ways a row's tail is closed: a termination, a time-limit cut,
    and the batch ending mid-episode on the last row.

    Searches the first ``search_steps`` steps of the trainer's policy, which it uses up: rebuild
    the trainer (same seed, same steps) to record the rows. Returns 0 if no stretch shows all
    three (an environment that never terminates, or a time limit longer than the table).
    """
    term = np.empty(0, dtype=bool)
    trunc = np.empty(0, dtype=bool)
    first_unchecked = 0
    while len(term) < search_steps:  # in chunks: the stretch is usually found in the first few hundred steps
        chunk = collect_rollout(trainer.envs, trainer.agent, trainer.obs, 250)
        trainer.obs = chunk.next_obs.numpy()
        term = np.concatenate([term, chunk.terminated[:, env_index]])
        trunc = np.concatenate([trunc, chunk.truncated[:, env_index]])
        for start in range(first_unchecked, len(term) - num_steps + 1):
            rows = slice(start, start + num_steps - 1)  # the last row must continue, to show the batch end
            if term[rows].any() and trunc[rows].any() and not (term | trunc)[start + num_steps - 1]:
                return start
        first_unchecked = max(first_unchecked, len(term) - num_steps + 1)
    return 0


def lesson_table_rollout(
    preset: str, seed: int, warmup_updates: int, num_steps: int,
    time_limit: int | None = None, time_limit_row: int | None = None,
) -> Rollout:
    """One environment, ``warmup_updates`` PPO updates, then ``num_steps`` recorded steps.

    ``time_limit``: episodes cut after that many steps (warm-up included), and the rows start at
    the first stretch that shows every ending (:func:`skip_to_every_ending`); ``time_limit_row``:
    skip ahead so that the environment's own time limit falls on that row.
    """
    def trainer() -> PPOTrainer:
        return lesson_trainer(preset, seed=seed, warmup_updates=warmup_updates, num_envs=1, max_episode_steps=time_limit)

    built, skip = trainer(), 0
    if time_limit_row is not None:
        skip = skip_to_time_limit(built, time_limit_row)
    elif time_limit is not None:
        skip = skip_to_every_ending(built, num_steps)
        built.close()
        built = trainer()  # the search used the steps up; the same seed replays them
    rollout = lesson_rollout(built, num_steps, skip=skip)
    built.close()
    return rollout


def rewards_to_go_table(rollout: Rollout, gamma: float, env_index: int = 0) -> dict[str, np.ndarray]:
    """Rewards-to-go of environment ``env_index`` row by row, with what follows each reward.

        R̂_t = r_t + γ · next_t,   next_t = 0              if step t terminated the episode
                                          V(s_final,t)   if a time limit cut it after step t
                                          V(s_T)         on the last row, if it did not end
                                          R̂_{t+1}        otherwise

    ``rewards_to_go`` comes from :func:`ppo_core.advantages.rewards_to_go` with
    ``truncated=``, ``final_values=`` and ``last_value=`` (the rollout's critic values).

    Columns, each (T,): ``t``, ``reward``, ``terminated``, ``truncated``; ``bootstrap`` (which
    case above gives next_t: "terminated", "truncated", "batch_end" or "next_row");
    ``bootstrap_value`` (0, V(s_final) or V(s_T) where a row uses one, NaN where the next row
    continues it); ``next_value`` (next_t); ``rewards_to_go`` (R̂_t).
    """
    from .advantages import rewards_to_go

    i = env_index
    rewards = rollout.rewards[:, i]
    terminated, truncated = rollout.terminated[:, i], rollout.truncated[:, i]
    final_values, last_value = rollout.final_values[:, i], float(rollout.last_value[i])
    t_len = rewards.shape[0]
    rtg = rewards_to_go(rewards, terminated | truncated, gamma, last_value, truncated=truncated, final_values=final_values)

    kind = np.full(t_len, "next_row", dtype=object)
    kind[-1] = "batch_end"
    kind[truncated] = "truncated"
    kind[terminated] = "terminated"
    bootstrap_value = np.full(t_len, np.nan)
    bootstrap_value[kind == "batch_end"] = last_value
    bootstrap_value[truncated] = final_values[truncated]
    bootstrap_value[terminated] = 0.0
    next_value = np.where(kind == "next_row", np.append(rtg[1:], np.nan), bootstrap_value)
    return {
        "t": np.arange(t_len),
        "reward": rewards,
        "terminated": terminated,
        "truncated": truncated,
        "bootstrap": kind,
        "bootstrap_value": bootstrap_value,
        "next_value": next_value,
        "rewards_to_go": rtg,
    }


def advantage_table(rollout: Rollout, gamma: float, lam: float, normalize: bool = False, env_index: int = 0) -> dict[str, np.ndarray]:
    """Advantage estimates of environment ``env_index``, side by side.

        R̂_t − V(s_t)                              (:func:`rewards_to_go` minus the critic)
        δ_t = r_t + γ (1 − d_t) V(s_{t+1}) − V(s_t)        (:func:`td_errors`)
        A_t = δ_t + γλ (1 − d_t) A_{t+1}                  (:func:`gae`)
        (A − mean A) / std A over the rows shown          (:func:`normalize_advantages`)

    All with the time-limit bootstrap (``truncated=``, ``final_values=``) and ``last_value``.
    Columns, each (T,): ``t``, ``reward``, ``terminated``, ``truncated``, ``value`` V(s_t),
    ``rewards_to_go``, ``rtg_minus_value``, ``td_error``, ``gae``, ``normalized`` (NaN when
    ``normalize`` is false), ``advantage`` (what the loss would use: ``normalized`` or ``gae``)
    and ``sign_flipped`` (normalisation changed the sign of A_t; all false when not normalising).
    """
    from .advantages import gae, normalize_advantages, rewards_to_go, td_errors

    i = env_index
    rewards, values = rollout.rewards[:, i], rollout.values[:, i]
    terminated, truncated = rollout.terminated[:, i], rollout.truncated[:, i]
    dones = terminated | truncated
    last_value = float(rollout.last_value[i])
    tail = {"truncated": truncated, "final_values": rollout.final_values[:, i]}
    rtg = rewards_to_go(rewards, dones, gamma, last_value, **tail)
    adv = gae(rewards, values, dones, gamma, lam, last_value, **tail)
    if normalize:
        normalized = np.asarray(normalize_advantages(adv), dtype=np.float64)
        flipped = np.sign(normalized) != np.sign(adv)
    else:
        normalized = np.full_like(adv, np.nan)
        flipped = np.zeros(adv.shape, dtype=bool)
    return {
        "t": np.arange(rewards.shape[0]),
        "reward": rewards,
        "terminated": terminated,
        "truncated": truncated,
        "value": values,
        "rewards_to_go": rtg,
        "rtg_minus_value": rtg - values,
        "td_error": td_errors(rewards, values, dones, gamma, last_value, **tail),
        "gae": adv,
        "normalized": normalized,
        "advantage": normalized if normalize else adv,
        "sign_flipped": flipped,
    }


def gae_limits(rollout: Rollout, gamma: float, env_index: int = 0, atol: float = 1e-9) -> dict[str, float | bool]:
    """Check GAE's two limits on a real rollout: λ = 0 gives δ_t, λ = 1 gives R̂_t − V(s_t).

    Returns ``lambda0_max_diff`` = max_t |A_t(λ=0) − δ_t|, ``lambda1_max_diff`` =
    max_t |A_t(λ=1) − (R̂_t − V(s_t))|, and ``lambda0_agree`` / ``lambda1_agree``: the
    difference is at most ``atol`` (float64 rounding only).
    """
    table0 = advantage_table(rollout, gamma, 0.0, env_index=env_index)
    table1 = advantage_table(rollout, gamma, 1.0, env_index=env_index)
    d0 = float(np.max(np.abs(table0["gae"] - table0["td_error"])))
    d1 = float(np.max(np.abs(table1["gae"] - table1["rtg_minus_value"])))
    return {"lambda0_max_diff": d0, "lambda1_max_diff": d1, "lambda0_agree": d0 <= atol, "lambda1_agree": d1 <= atol}


def importance_sampling_sweep(shifts, num_samples: int = 200, trials: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`importance_sampling` at each shift of q = N(shift, 1) away from p = N(0, 1).

    Returns arrays of the shifts' shape: ``shift``, ``analytic_variance`` (the exact variance of
    an estimate), ``sampled_variance`` (the variance over the trials), ``mean_estimate`` and
    ``max_weight_share`` (largest weight / sum in one trial).
    """
    runs = [importance_sampling(float(s), num_samples, trials, seed) for s in np.asarray(shifts, dtype=np.float64)]
    return {
        "shift": np.asarray(shifts, dtype=np.float64),
        "analytic_variance": np.array([r["analytic_variance"] for r in runs]),
        "sampled_variance": np.array([r["sampled_variance"] for r in runs]),
        "mean_estimate": np.array([r["mean_estimate"] for r in runs]),
        "max_weight_share": np.array([r["max_weight_share"] for r in runs]),
    }


def play_episode(
    config,
    agent,
    *,
    observation_stats: dict | None = None,
    seed: int = 0,
    max_steps: int = 500,
    deterministic: bool = False,
    frame_every: int = 2,
) -> dict:
    """Run ``agent`` for one episode of ``config.env_id`` with ``render_mode="rgb_array"``,
    for at most ``max_steps`` steps.

    Observations pass through the same chain the trainer used; with ``observation_stats``
    (from :meth:`PPOTrainer.observation_stats`) the normaliser is frozen at those statistics.
    Returns ``frames`` (every ``frame_every``-th RGB array), ``actions`` (one row per step, as
    the environment received them), ``steps``, ``episode_return``, ``cut_short`` and
    ``time_limit`` (the environment's own step limit):

    - ``episode_return`` is the sum of the rewards of the steps played, in the units of the
      preset's returns (``episode_return_mean`` and the training curve): the environment's reward
      after its fixed transforms (÷10 for the discretised Pendulum), never normalised;
    - ``cut_short`` is true when ``max_steps`` ended the episode before the environment did
      (neither terminated nor truncated by its own ``time_limit``), so the return covers only
      the steps played.
    """
    from .envs import make_env
    from .trainer import observation_normalizer

    # No reward normaliser here: the rewards stay in the units RecordEpisodeStatistics counts.
    env = make_env(config.env_id, render_mode="rgb_array", normalize_obs=observation_stats is not None)
    norm = observation_normalizer(env)
    if norm is not None:
        norm.update_running_mean = False
        norm.obs_rms.mean = np.asarray(observation_stats["mean"], dtype=np.float64)
        norm.obs_rms.var = np.asarray(observation_stats["var"], dtype=np.float64)
    obs, _ = env.reset(seed=seed)
    frames, actions, total, steps, ended = [env.render()], [], 0.0, 0, False
    agent.generator.manual_seed(seed)
    for steps in range(1, max_steps + 1):
        action = agent.act(torch.as_tensor(obs, dtype=torch.float32)[None], deterministic=deterministic)[0].numpy()
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if steps % frame_every == 0:
            frames.append(env.render())
        if terminated or truncated:
            ended = True
            break
    env.close()
    time_limit = env.spec.max_episode_steps  # the TimeLimit gym.make put on the environment
    return {
        "frames": frames,
        "actions": np.stack(actions),
        "steps": steps,
        "episode_return": total,
        "cut_short": not ended,
        "time_limit": time_limit,
    }
