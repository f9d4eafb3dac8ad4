"""The PPO loop (the pseudocode of the "PPO from scratch" notebook), one update at a time.

    for k = 0, 1, 2, ...                                  PPOTrainer.iterate()
        collect D_k with π_θk                             PPOTrainer.collect()
        rewards-to-go R̂ and advantages Â (GAE)            PPOTrainer.compute_advantages()
        K epochs of minibatch ascent on the surrogate,
        descent on the value loss                         PPOTrainer.update()

Each step is a public method so a lesson page can run one of them and show its numbers.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch

from .advantages import gae, normalize_advantages
from .config import PPOConfig
from .envs import ENVIRONMENTS, make_vector_env
from .networks import ActorCritic
from .objectives import adaptive_beta, approx_kl, clip_fraction, clipped_objective, explained_variance, kl_penalty_objective, value_loss
from .rollout import Rollout, collect_rollout, evaluate_rollout

__all__ = ["PPOTrainer", "Batch", "MinibatchTerms", "TrainingDiverged", "RETURN_WINDOW", "target_reached", "agent_for", "observation_normalizer"]

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

    @cached_property
    def normalized_advantages(self) -> torch.Tensor:
        """Â normalised over the whole batch (what the loss uses when a minibatch is the batch)."""
        return normalize_advantages(self.advantages)


class MinibatchTerms(NamedTuple):
    """The parts of one minibatch's loss that the statistics are computed from (see
    :meth:`PPOTrainer.statistics`); tensors as the loss computed them, before its gradient step."""

    policy_loss: torch.Tensor  # −mean L^policy
    value_loss: torch.Tensor
    loss: torch.Tensor
    log_ratio: torch.Tensor  # (b,) log r
    ratio: torch.Tensor  # (b,) r
    out: torch.Tensor  # (b, ·) the actor's output: logits or Gaussian means
    entropy: torch.Tensor | None  # mean entropy, where it is part of the loss (ent_coef > 0)


def agent_for(config: PPOConfig, observation_space=None, action_space=None) -> ActorCritic:
    # The agent's own generator, seeded from the config, draws its weights and its actions.
    """The :class:`ActorCritic` a config trains, sized from its environment's spaces (made once
    to read them when not given). Imported checkpoints are checked against its shapes."""
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
    )


class PPOTrainer:
    """Trains an :class:`ActorCritic` with PPO on ``config.env_id``.

    ``iterate()`` yields one metrics record (a dict, see :meth:`train_one_update`) per update.
    ``agent`` holds the networks; ``policy`` and ``value`` are its actor and critic.
    """

    def __init__(self, config: PPOConfig):
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
        )
        self.envs.action_space.seed(config.seed)
        self.agent = agent_for(config, self.envs.single_observation_space, self.envs.single_action_space)
        self._params = list(self.agent.parameters())
        self._flat_grads = torch.zeros(sum(p.numel() for p in self._params))  # see _view_gradients
        # eps=1e-5 as in the PPO reference implementations rather than Adam's 1e-8; fused: one kernel
        # for all parameters instead of a Python loop over them (a third faster on these small nets).
        self.optimizer = torch.optim.Adam(self._params, lr=config.learning_rate, eps=1e-5, fused=True)
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
        rollout = collect_rollout(self.envs, self.agent, self.obs, self.config.num_steps)
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

    def minibatch_loss(
        self, batch: Batch, idx: torch.Tensor, see_ratio: Callable[[torch.Tensor], None] | None = None
    ) -> tuple[torch.Tensor, MinibatchTerms]:
        """The total loss on the samples ``idx``:  −L^policy + c_v·L^V − c_e·H.

        Returns the loss and its terms (:class:`MinibatchTerms`), from which :meth:`statistics`
        computes the numbers named in ``STAT_NAMES``.
        """
        c = self.config
        whole = c.num_minibatches == 1  # idx is then 0..B-1 (see update): no gather needed
        pick = (lambda t: t) if whole else (lambda t: t[idx])
        obs = pick(batch.obs)
        out = self.agent.actor_output(obs)
        new_log_probs = self.agent.log_prob(out, pick(batch.actions))
        new_values = self.agent.value(obs)
        log_ratio = new_log_probs - pick(batch.log_probs)
        ratio = log_ratio.exp()
        if see_ratio is not None:
            see_ratio(ratio.detach())
        if c.norm_adv:
            # The whole batch's normalised advantages are the same in every epoch: computed once.
            adv = batch.normalized_advantages if whole else normalize_advantages(batch.advantages[idx])
        else:
            adv = pick(batch.advantages)
        if c.objective == "clip":
            surrogate = clipped_objective(ratio, adv, c.clip_coef)
        elif c.objective == "kl_penalty":
            surrogate = kl_penalty_objective(ratio, adv, approx_kl(log_ratio, reduce=False), self.kl_beta)
        else:
            surrogate = ratio * adv
        policy_loss = -surrogate.mean()
        v_loss = value_loss(new_values, pick(batch.returns), pick(batch.values), c.clip_coef if c.clip_vloss else None)
        loss = policy_loss + c.vf_coef * v_loss
        entropy = None  # without an entropy bonus it stays out of the graph, computed for the record only
        if c.ent_coef > 0:
            entropy = self.agent.entropy(out).mean()
            loss = loss - c.ent_coef * entropy
        return loss, MinibatchTerms(policy_loss, v_loss, loss, log_ratio, ratio, out, entropy)

    @torch.no_grad()
    def statistics(self, steps: list[MinibatchTerms]) -> dict[str, float]:
        """The mean over the minibatches ``steps`` of each statistic in ``STAT_NAMES``, each as
        the loss saw it (before that minibatch's gradient step).

        Computed here, once for all the minibatches, rather than at every gradient step: each
        small tensor operation costs about as much as the arithmetic of a whole CartPole batch,
        and a Python float is a further round trip. Every minibatch of an update holds the same
        number of samples, so for ``approx_kl``, ``clip_fraction`` and ``entropy`` the mean over
        all their samples is the mean of the per-minibatch means.
        """
        c = self.config
        if c.ent_coef > 0:
            entropy = torch.stack([s.entropy for s in steps]).mean()
        else:
            entropy = self.agent.entropy(torch.cat([s.out for s in steps])).mean()
        losses = torch.stack([torch.stack([s.policy_loss, s.value_loss, s.loss]) for s in steps]).mean(0)
        stats = torch.stack(
            [
                losses[0],
                losses[1],
                entropy,
                approx_kl(torch.cat([s.log_ratio for s in steps])),
                clip_fraction(torch.cat([s.ratio for s in steps]), c.clip_coef),
                losses[2],
            ]
        )
        return dict(zip(self.STAT_NAMES, stats.tolist()))

    def update(
        self,
        batch: Batch,
        on_epoch: Callable[[int, dict], None] | None = None,
        on_minibatch: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    ) -> dict[str, float]:
        """K epochs over shuffled minibatches. Returns the means over all its minibatches of
        the statistics in ``STAT_NAMES`` (see :meth:`statistics`) and ``epochs_run``.

        ``on_epoch(epoch, stats)`` is called after each epoch with the means over that epoch's
        minibatches (the lesson page steps through them);
        ``on_minibatch(epoch, idx, ratio)`` before each gradient step with the sample indices
        and their ratios r = π_θ/π_θk as the loss saw them.
        With ``target_kl`` set, the update stops before a gradient step whose minibatch already
        shows approx_kl above it (checked before stepping, as Stable-Baselines3 does, so the
        policy never moves further once the limit is passed).
        """
        c = self.config
        grads = _view_gradients(self._params, self._flat_grads)
        steps: list[MinibatchTerms] = []
        epochs_run = 0
        stop = False
        whole = torch.arange(len(batch))
        for epoch in range(c.update_epochs):
            # One minibatch is the whole batch: its order does not change the loss, so skip the shuffle.
            perm = whole if c.num_minibatches == 1 else torch.randperm(len(batch), generator=self._shuffle)
            epoch_steps: list[MinibatchTerms] = []
            for start in range(0, len(batch) - c.minibatch_size + 1, c.minibatch_size):
                idx = perm[start : start + c.minibatch_size]
                loss, terms = self.minibatch_loss(batch, idx, on_minibatch and (lambda r: on_minibatch(epoch, idx, r)))
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(
                        f"the loss became {loss_value} at update {self.update_index + 1}, epoch {epoch + 1} "
                        f"(policy loss {terms.policy_loss.item():.4g}, value loss {terms.value_loss.item():.4g}); "
                        "try a smaller learning_rate"
                    )
                if c.target_kl is not None and approx_kl(terms.log_ratio.detach()).item() > c.target_kl:
                    stop = True
                    break
                grads.zero_()  # not set to None: backward accumulates into the flat gradient's views
                loss.backward()
                if c.max_grad_norm is not None:
                    # clip_grad_norm_, split in two: its total norm over the parameters' gradients
                    # (the same number, to the bit), then its scaling applied to the one flat
                    # gradient instead of tensor by tensor.
                    norm = torch.nn.utils.get_total_norm([p.grad for p in self._params])
                    grads.mul_(torch.clamp(c.max_grad_norm / (norm + 1e-6), max=1.0))
                self.optimizer.step()
                epoch_steps.append(terms)
            steps += epoch_steps
            if epoch_steps:
                epochs_run += 1
                if on_epoch is not None:
                    on_epoch(epoch, self.statistics(epoch_steps))
            if stop:
                break
        if not torch.isfinite(torch.cat([p.reshape(-1) for p in self._params])).all():
            raise TrainingDiverged(f"a network parameter became non-finite at update {self.update_index + 1}")
        out = self.statistics(steps) if steps else {}
        out["epochs_run"] = epochs_run
        return out

    def batch_ratios(self, batch: Batch) -> np.ndarray:
        """r = π_θ(a|s) / π_θk(a|s) for every sample of ``batch`` under the current policy."""
        with torch.no_grad():
            new = self.agent.log_prob(self.agent.actor_output(batch.obs), batch.actions)
        return (new - batch.log_probs).exp().numpy()

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
        ratios = self.batch_ratios(batch)
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
        }
        if c.objective == "kl_penalty":
            record["kl_beta"] = self.kl_beta
        if self.spec.continuous:
            record["std"] = float(self.agent.log_std.detach().exp().mean())
        return record

    def iterate(self) -> Iterator[dict]:
        """Yield one metrics record per update until total_steps (or the target, if asked)."""
        while not self.done:
            yield self.train_one_update()

    def observation_stats(self) -> dict[str, np.ndarray] | None:
        """Running mean and variance of the first environment's NormalizeObservation (None
        without one): a saved policy needs them to see observations as it was trained to."""
        wrapper = observation_normalizer(self.envs.envs[0]) if hasattr(self.envs, "envs") else None
        if wrapper is None:
            return None
        return {"mean": np.asarray(wrapper.obs_rms.mean, dtype=np.float64), "var": np.asarray(wrapper.obs_rms.var, dtype=np.float64)}

    def close(self) -> None:
        self.envs.close()


def _view_gradients(params: list[torch.nn.Parameter], grads: torch.Tensor) -> torch.Tensor:
    """Make each parameter's ``.grad`` a view of its slice of the flat tensor ``grads``; returns it.

    Zeroing the gradients is then one fill and clipping scales one tensor: on these small
    networks each per-tensor operation costs more than its arithmetic, and zero_grad's and
    clip_grad_norm_'s loops over 12 tensors took longer than the backward pass's arithmetic.
    The gradients must be zeroed in place (``grads.zero_()``), never set to None: backward
    accumulates into an existing ``.grad`` in place, which is what fills the flat tensor.
    Done at the start of every update, so a ``zero_grad()`` from elsewhere cannot unlink them.
    (The parameters stay separate tensors: fused Adam over one flat parameter rounds a few
    values differently, and every preset's run stays as it was, to the bit.)
    """
    offset = 0
    for p in params:
        p.grad = grads[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    return grads


def observation_normalizer(env):
    """The NormalizeObservation wrapper in ``env``'s chain, or None."""
    from gymnasium.wrappers import NormalizeObservation

    while env is not None:
        if isinstance(env, NormalizeObservation):
            return env
        env = getattr(env, "env", None)
    return None


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None
