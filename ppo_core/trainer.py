"""The PPO loop (the pseudocode of the "PPO from scratch" notebook), one update at a time.

    for k = 0, 1, 2, ...                                  PPOTrainer.iterate()
        collect D_k with π_θk                             PPOTrainer.collect()
        rewards-to-go R̂ and advantages Â (GAE)            PPOTrainer.compute_advantages()
        K epochs of minibatch ascent on the surrogate,
        descent on the value loss                         PPOTrainer.update()

Each step is a public method so a lesson page can run one of them and show its numbers. The
update is written with the ordinary PyTorch calls, in the order of the paper's algorithm:
loss, ``zero_grad``, ``backward``, ``clip_grad_norm_``, ``step``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

import gymnasium as gym
import numpy as np
import torch

from .advantages import gae, normalize_advantages
from .config import PPOConfig
from .envs import ENVIRONMENTS, SameStepNormalizeObservation, make_vector_env
from .networks import ActorCritic
from .objectives import adaptive_beta, approx_kl, clip_fraction, explained_variance, surrogate_objective, value_loss
from .rollout import Rollout, collect_rollout, evaluate_rollout

__all__ = ["PPOTrainer", "Batch", "TrainingDiverged", "RETURN_WINDOW", "target_reached", "agent_for", "observation_normalizer"]

RETURN_WINDOW = 20  # episode_return_mean is the mean of this many most recent episodes


def target_reached(episode_return_mean: float | None, episodes: int, target: float | None) -> bool:
    """A run has reached its target once RETURN_WINDOW episodes have finished and the mean return
    of the last RETURN_WINDOW is at least ``target``: the trainer's test, which reports also
    apply to its records (``episode_return_mean``, ``episodes``)."""
    return target is not None and episode_return_mean is not None and episodes >= RETURN_WINDOW and episode_return_mean >= target


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite; the message says which and when."""


@dataclass
class Batch:
    """A rollout flattened to B = T·N samples, with its advantages and returns."""

    rollout: Rollout
    obs: torch.Tensor  # (B, obs_dim)
    actions: torch.Tensor  # (B,) or (B, act_dim)
    log_probs: torch.Tensor  # (B,) log π_θk(a|s)
    values: torch.Tensor  # (B,) V_φk(s)
    advantages: torch.Tensor  # (B,) Â (GAE), not normalised
    returns: torch.Tensor  # (B,) R̂ = Â + V: the value network's regression target

    def __len__(self) -> int:
        return self.obs.shape[0]


def agent_for(config: PPOConfig, observation_space=None, action_space=None) -> ActorCritic:
    """The :class:`ActorCritic` a config trains, sized from its environment's spaces (made once
    to read them when not given). Imported checkpoints are checked against its shapes.
    The agent's own generator, seeded from the config, draws its weights and its actions."""
    if observation_space is None or action_space is None:
        from .envs import make_env

        env = make_env(config.env_id)
        observation_space, action_space = env.observation_space, env.action_space
        env.close()
    spec = ENVIRONMENTS[config.env_id]
    obs_dim = int(np.prod(observation_space.shape))
    action_dim = int(action_space.shape[0]) if spec.continuous else int(action_space.n)
    return ActorCritic(
        obs_dim,
        action_dim,
        spec.continuous,
        config.hidden_sizes,
        config.activation,
        config.shared_trunk,
        config.log_std_init,
        generator=torch.Generator().manual_seed(config.seed),
        sde=config.sde_sample_freq is not None,
        ortho_init=config.ortho_init,
    )


class PPOTrainer:
    """Trains an :class:`ActorCritic` with PPO on ``config.env_id``.

    ``iterate()`` yields one metrics record (a dict, see :meth:`train_one_update`) per update.
    ``agent`` holds the networks; ``policy`` and ``value`` are its actor and critic.
    """

    def __init__(self, config: PPOConfig, *, max_episode_steps: int | None = None):
        """``max_episode_steps``: a time limit other than the environment's own (None: keep it),
        for lessons that need an episode cut inside a short table; presets never set it."""
        # Small networks get slower with more threads, and the app server needs the other core.
        torch.set_num_threads(1)
        self.config = config
        self.spec = ENVIRONMENTS[config.env_id]
        self._shuffle = torch.Generator().manual_seed(config.seed)
        self.envs = make_vector_env(
            config.env_id,
            config.num_envs,
            normalize_obs=config.normalize_obs,
            normalize_reward=config.normalize_reward,
            gamma=config.gamma,
            max_episode_steps=max_episode_steps,
        )
        self.envs.action_space.seed(config.seed)
        self.agent = agent_for(config, self.envs.single_observation_space, self.envs.single_action_space)
        # eps=1e-5 as in the PPO reference implementations rather than Adam's 1e-8. fused=True:
        # torch's one-kernel Adam instead of its default loop over the parameter tensors; the
        # same update, and 7 % of the cartpole preset's wall time (farm-bench, 5 pairs).
        # The parameters as a list, made once: agent.parameters() walks the module tree each call,
        # and clip_grad_norm_ is called at every gradient step.
        self.params = list(self.agent.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=config.learning_rate, eps=1e-5, fused=True)
        self.obs, _ = self.envs.reset(seed=config.seed)
        self.global_step = 0
        self.update_index = 0
        self.kl_beta = config.kl_beta
        self.wall_s = 0.0
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.recent_returns: deque[float] = deque(maxlen=RETURN_WINDOW)
        self.last_batch: Batch | None = None
        self.last_ratios: np.ndarray | None = None  # per-sample r after the latest update

    # -- the networks, by their names in the pseudocode --------------------------------------
    @property
    def policy(self) -> torch.nn.Module:
        return self.agent.actor

    @property
    def value(self) -> torch.nn.Module:
        return self.agent.critic

    # -- step 3 ------------------------------------------------------------------------------
    def collect(self) -> Rollout:
        """Collect num_steps × num_envs transitions with the current policy."""
        rollout = collect_rollout(self.envs, self.agent, self.obs, self.config.num_steps, self.config.sde_sample_freq)
        self.obs = rollout.next_obs.numpy()
        self.global_step += rollout.rewards.size
        self.episode_returns += rollout.episode_returns
        self.episode_lengths += rollout.episode_lengths
        self.recent_returns.extend(rollout.episode_returns)
        return evaluate_rollout(self.agent, rollout)

    # -- steps 4 and 5 -----------------------------------------------------------------------
    def compute_advantages(self, rollout: Rollout) -> Batch:
        """GAE(γ, λ) advantages and returns R̂ = Â + V, flattened to a batch."""
        c = self.config
        adv = gae(
            rollout.rewards,
            rollout.values,
            rollout.dones,
            c.gamma,
            c.gae_lambda,
            rollout.last_value,
            truncated=rollout.truncated,
            final_values=rollout.final_values,
        )
        returns = adv + rollout.values
        b = rollout.rewards.size
        return Batch(
            rollout=rollout,
            obs=rollout.obs.reshape(b, -1),
            actions=rollout.actions.reshape(b, *rollout.actions.shape[2:]),
            log_probs=rollout.log_probs.reshape(b),
            values=torch.as_tensor(rollout.values.reshape(b), dtype=torch.float32),
            advantages=torch.as_tensor(adv.reshape(b), dtype=torch.float32),
            returns=torch.as_tensor(returns.reshape(b), dtype=torch.float32),
        )

    # -- steps 6 and 7 -----------------------------------------------------------------------
    STAT_NAMES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "loss")

    def minibatch_loss(self, batch: Batch, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """The total loss on the samples ``idx``:  −L^policy + c_v·L^V − c_e·H.

        Returns the loss, the statistics named in ``STAT_NAMES`` as this loss saw them (before
        its gradient step), and the ratios r = π_θ(a|s) / π_θk(a|s) of its samples.
        """
        c = self.config
        obs = batch.obs[idx]
        dist = self.agent.distribution(obs)
        log_ratio = dist.log_prob(batch.actions[idx]) - batch.log_probs[idx]
        ratio = log_ratio.exp()
        adv = batch.advantages[idx]
        if c.norm_adv:
            adv = normalize_advantages(adv)  # over this minibatch, as CleanRL and SB3 do
        surrogate = surrogate_objective(c.objective, ratio, adv, eps=c.clip_coef, beta=self.kl_beta, log_ratio=log_ratio)
        policy_loss = -surrogate.mean()
        clip_range = c.clip_coef if c.clip_vloss else None
        v_loss = value_loss(self.agent.value(obs), batch.returns[idx], batch.values[idx], clip_range)
        entropy = dist.entropy().mean()
        loss = policy_loss + c.vf_coef * v_loss
        if c.ent_coef != 0:
            # Left out at 0, where it adds nothing: backward() then skips the entropy's part of the
            # graph (same gradients; 6 % of the cartpole preset's time, 4 alternating pairs).
            loss = loss - c.ent_coef * entropy
        with torch.no_grad():
            numbers = [policy_loss, v_loss, entropy, approx_kl(log_ratio), clip_fraction(ratio, c.clip_coef), loss]
            stats = dict(zip(self.STAT_NAMES, torch.stack(numbers).tolist()))
        return loss, stats, ratio.detach()

    def update(
        self,
        batch: Batch,
        on_epoch: Callable[[int, dict], None] | None = None,
        on_minibatch: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    ) -> dict[str, float | int]:
        """K epochs of gradient steps over shuffled minibatches of ``batch``.

        Returns the mean over all its minibatches of each statistic in ``STAT_NAMES`` (each as
        that minibatch's loss saw it) and ``epochs_run``, the number of epochs in which at least
        one gradient step was taken (an int).

        ``on_epoch(epoch, stats)`` is called after each epoch with the means over that epoch's
        minibatches (the lesson page steps through them); ``on_minibatch(epoch, idx, ratio)``
        before each gradient step with the sample indices and their ratios r as the loss saw them.

        With ``target_kl`` set, the update stops before the gradient step of the first minibatch
        whose approx_kl (measured before its step) is above ``target_kl`` itself; that minibatch
        takes no step and counts in no statistic. Stable-Baselines3 checks at the same point but
        stops only above 1.5 × target_kl; CleanRL checks at the end of each epoch.
        """
        c = self.config
        all_stats: list[dict[str, float]] = []
        epochs_run = 0
        for epoch in range(c.update_epochs):
            epoch_stats: list[dict[str, float]] = []
            kl_too_large = False
            order = torch.randperm(len(batch), generator=self._shuffle)
            for start in range(0, len(batch) - c.minibatch_size + 1, c.minibatch_size):
                idx = order[start : start + c.minibatch_size]
                loss, stats, ratio = self.minibatch_loss(batch, idx)
                if not math.isfinite(stats["loss"]):
                    raise TrainingDiverged(
                        f"the loss became {stats['loss']} at update {self.update_index + 1}, epoch {epoch + 1} "
                        f"(policy loss {stats['policy_loss']:.4g}, value loss {stats['value_loss']:.4g}); "
                        "try a smaller learning_rate"
                    )
                if c.target_kl is not None and stats["approx_kl"] > c.target_kl:
                    kl_too_large = True
                    break
                if on_minibatch is not None:
                    on_minibatch(epoch, idx, ratio)
                self.optimizer.zero_grad()
                loss.backward()
                if c.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.params, c.max_grad_norm)
                self.optimizer.step()
                epoch_stats.append(stats)
            if epoch_stats:
                epochs_run += 1
                all_stats += epoch_stats
                if on_epoch is not None:
                    on_epoch(epoch, _means(epoch_stats))
            if kl_too_large:
                break
        if not torch.nn.utils.parameters_to_vector(self.params).isfinite().all():
            raise TrainingDiverged(f"a network parameter became non-finite at update {self.update_index + 1}")
        return {**_means(all_stats), "epochs_run": epochs_run}

    # -- the whole loop ----------------------------------------------------------------------
    @property
    def episode_return_mean(self) -> float | None:
        """Mean return of the last 20 finished episodes (None before the first)."""
        return float(np.mean(self.recent_returns)) if self.recent_returns else None

    @property
    def reached_target(self) -> bool:
        return target_reached(self.episode_return_mean, len(self.recent_returns), self.config.target_return)

    @property
    def done(self) -> bool:
        if self.global_step + self.config.batch_size > self.config.total_steps:
            return True
        return self.config.stop_at_target and self.reached_target

    def train_one_update(self) -> dict:
        """Collect, estimate advantages, update; return the metrics record of this update."""
        c = self.config
        t0 = time.perf_counter()
        if c.anneal_lr:
            frac = 1.0 - self.update_index / max(c.num_updates, 1)
            self.optimizer.param_groups[0]["lr"] = frac * c.learning_rate
        rollout = self.collect()
        batch = self.compute_advantages(rollout)
        stats = self.update(batch)
        epochs_run = stats.pop("epochs_run")
        with torch.no_grad():
            policy = self.agent.distribution(batch.obs)  # π_θ after the update, on the batch's states
        ratios = (policy.log_prob(batch.actions) - batch.log_probs).exp().numpy()  # r for every sample
        if c.objective == "kl_penalty":
            self.kl_beta = adaptive_beta(self.kl_beta, float(approx_kl(np.log(ratios))), c.kl_target)
        self.last_batch, self.last_ratios = batch, ratios
        self.update_index += 1
        self.wall_s += time.perf_counter() - t0
        record = {
            "update": self.update_index,
            "global_step": self.global_step,
            "wall_s": round(self.wall_s, 4),
            "sps": round(self.global_step / self.wall_s, 1) if self.wall_s > 0 else None,
            "episode_return_mean": self.episode_return_mean,
            "episodes": len(self.episode_returns),
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "explained_variance": _finite_or_none(
                explained_variance(batch.values.numpy(), batch.returns.numpy())
            ),
            **{k: _finite_or_none(v) for k, v in stats.items()},
            "epochs_run": epochs_run,
        }
        if c.objective == "kl_penalty":
            record["kl_beta"] = self.kl_beta
        if self.spec.continuous:
            # σ of each action dimension, averaged over the batch's states (with gSDE it depends on
            # the state; without, every state has the same σ = exp(log σ))
            sigma = policy.base_dist.stddev.mean(0)
            record["std"] = float(sigma.mean())
            if len(sigma) > 1:  # and each action dimension's own σ
                record.update({f"std_{i}": float(v) for i, v in enumerate(sigma)})
        return record

    def iterate(self) -> Iterator[dict]:
        """Yield one metrics record per update until total_steps (or the target, if asked)."""
        while not self.done:
            yield self.train_one_update()

    def observation_stats(self) -> dict[str, np.ndarray] | None:
        """Running mean and variance of the observation normaliser (the vector's, or the first
        sub-environment's; None without one): a saved policy needs them to see observations as
        it was trained to."""
        wrapper = observation_normalizer(self.envs)
        if wrapper is None and isinstance(self.envs, gym.vector.SyncVectorEnv):
            wrapper = observation_normalizer(self.envs.envs[0])
        if wrapper is None:
            return None
        return {"mean": np.asarray(wrapper.obs_rms.mean, dtype=np.float64), "var": np.asarray(wrapper.obs_rms.var, dtype=np.float64)}

    def close(self) -> None:
        self.envs.close()


def observation_normalizer(env):
    """The observation normaliser in ``env``'s chain (Gymnasium's NormalizeObservation, or
    ppo_core's on a vector environment), or None."""
    from gymnasium.wrappers import NormalizeObservation

    while env is not None:
        if isinstance(env, (NormalizeObservation, SameStepNormalizeObservation)):
            return env
        env = getattr(env, "env", None)
    return None


def _means(stats: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each statistic over minibatches (all of one size, so also over their samples)."""
    return {name: sum(s[name] for s in stats) / len(stats) for name in stats[0]} if stats else {}


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None
