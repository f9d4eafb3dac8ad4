"""Step 1 of the PPO pseudocode: the policy π_θ (actor) and the value function V_φ (critic).

Discrete actions use a Categorical over logits; continuous actions a diagonal Gaussian whose
mean comes from the network and whose log standard deviation is a free parameter that does
not depend on the state (as in the PPO paper's MuJoCo experiments).

With ``sde=True`` the Gaussian's noise is state-dependent instead (gSDE, generalized
State-Dependent Exploration, Raffin et al. 2021, the RL Zoo's choice for Pendulum and
MountainCarContinuous): the action is a = μ(s) + θ_ε·z(s), where z(s) are the actor's last
hidden features and θ_ε is a random matrix, each entry θ_ij ~ N(0, σ_ij²), drawn afresh only
every few steps (:meth:`ActorCritic.resample_noise`). Between draws the same state gives the
same action, so the car keeps pushing one way long enough to climb. Given s, the action is
still Gaussian: N(μ(s), Σ_j z_j(s)² σ_ij²) for action i, and that is the distribution whose
log-probabilities the update's ratio uses. Layers are initialised
orthogonally: gain √2 for hidden layers, 0.01 for the policy head (near-uniform first policy),
1 for the value head; with ``ortho_init=False`` as PyTorch initialises ``nn.Linear``, whose
policy head then starts with a mean action that varies with the state (the RL Zoo's
MountainCarContinuous setting: a random but steady push per state explores the hill).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.distributions import Categorical, Independent, Normal

__all__ = ["ActorCritic", "orthogonal_init", "sample"]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def orthogonal_init(layer: nn.Linear, gain: float, generator: torch.Generator | None = None) -> nn.Linear:
    """Orthogonal weights scaled by ``gain``, zero bias."""
    nn.init.orthogonal_(layer.weight, gain, generator=generator)
    nn.init.zeros_(layer.bias)
    return layer


def default_init(layer: nn.Linear, generator: torch.Generator | None = None) -> nn.Linear:
    """PyTorch's own initialisation of ``nn.Linear`` (weights and bias uniform in ±1/√fan_in),
    drawn from ``generator``: ``reset_parameters()`` has no generator argument."""
    bound = 1.0 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _layer(n_in: int, n_out: int, gain: float, generator: torch.Generator | None, ortho: bool) -> nn.Linear:
    """A linear layer, initialised orthogonally with ``gain`` or, without ``ortho``, as PyTorch does."""
    layer = nn.Linear(n_in, n_out)
    return orthogonal_init(layer, gain, generator) if ortho else default_init(layer, generator)


def _mlp(sizes: Sequence[int], activation: str, generator: torch.Generator | None, ortho: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [_layer(n_in, n_out, math.sqrt(2), generator, ortho), ACTIVATIONS[activation]()]
    return layers


def sample(dist: Categorical | Independent, generator: torch.Generator) -> torch.Tensor:
    """``dist.sample()``, drawn from ``generator`` instead of torch's global random stream.

    torch.distributions has no generator argument: it draws from the one global stream, which
    every thread of the process shares. The app trains each session in a thread, so two runs at
    once would take each other's random numbers and neither would repeat with its seed. This
    makes the call ``Categorical.sample()`` / ``Normal.sample()`` make (a multinomial draw from
    the probabilities; a normal draw around the mean), with the agent's own generator.
    """
    if isinstance(dist, Categorical):
        return torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
    return torch.normal(dist.mean, dist.stddev, generator=generator)


class ActorCritic(nn.Module):
    """Actor π_θ(a|s) and critic V_φ(s).

    Separate networks by default; ``shared_trunk=True`` puts both heads on one trunk.
    ``generator`` draws the initial weights and, later, the sampled actions: each agent has its
    own random stream, so agents built or run at the same time in one process (the app's
    sessions are threads) do not change each other's numbers.
    ``obs`` is (B, obs_dim) float32; ``distribution(obs)`` has batch shape (B,), its
    ``log_prob`` returns (B,) (summed over action dimensions for a Gaussian); ``value(obs)``
    returns (B,).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        continuous: bool,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        shared_trunk: bool = False,
        log_std_init: float = 0.0,
        generator: torch.Generator | None = None,
        sde: bool = False,
        ortho_init: bool = True,
    ):
        super().__init__()
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        g = self.generator
        self.continuous = continuous
        self.shared_trunk = shared_trunk
        sizes = [obs_dim, *hidden_sizes]
        last = sizes[-1]
        if shared_trunk:
            self.trunk = nn.Sequential(*_mlp(sizes, activation, g, ortho_init))
            self.actor = nn.Sequential(self.trunk, _layer(last, action_dim, 0.01, g, ortho_init))
            self.critic = nn.Sequential(self.trunk, _layer(last, 1, 1.0, g, ortho_init))
        else:
            self.actor = nn.Sequential(*_mlp(sizes, activation, g, ortho_init), _layer(last, action_dim, 0.01, g, ortho_init))
            self.critic = nn.Sequential(*_mlp(sizes, activation, g, ortho_init), _layer(last, 1, 1.0, g, ortho_init))
        self.sde = continuous and sde
        if self.sde:
            # one σ_ij per (hidden feature j, action i) pair, and the matrices θ_ε, one per environment
            self.log_std = nn.Parameter(torch.full((last, action_dim), float(log_std_init)))
            self.exploration: torch.Tensor | None = None  # (N, features, action_dim), by resample_noise
        elif continuous:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def distribution(self, obs: torch.Tensor) -> Categorical | Independent:
        """π_θ(·|s): Categorical(logits) or Independent(Normal(μ, exp(log σ)), 1).

        Speed, measured: built with ``validate_args=False`` (these two distributions only,
        nothing global). Validation checks the logits or σ at every construction and each
        action's support at every log_prob, several small tensor operations each; for these
        tiny networks that was 10 % of the cartpole preset's wall time (farm-bench, 4 pairs).
        The arguments are our own network's outputs, which the trainer checks finite after
        every update, and the actions are the ones it sampled.
        """
        if self.sde:
            features = self.actor[:-1](obs)  # z(s)
            mean = self.actor[-1](features)
            # Σ_j z_j² σ_ij², with z detached (σ's gradient does not train the features, as in
            # SB3's default) and 1e-6 added so that σ > 0 where z(s) = 0.
            std = (features.detach().pow(2) @ self.log_std.exp().pow(2) + 1e-6).sqrt()
            return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)
        out = self.actor(obs)
        if self.continuous:
            return Independent(Normal(out, self.log_std.exp().expand_as(out), validate_args=False), 1, validate_args=False)
        return Categorical(logits=out, validate_args=False)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V_φ(s), shape (B,)."""
        return self.critic(obs).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """a ~ π_θ(·|s) for each observation, from the agent's own generator (see :func:`sample`);
        with ``deterministic`` the most likely action (discrete) or the mean (Gaussian)."""
        if self.sde and not deterministic:
            features = self.actor[:-1](obs)
            if self.exploration is None or len(self.exploration) != len(obs):
                self.resample_noise(len(obs))
            noise = torch.bmm(features.unsqueeze(1), self.exploration).squeeze(1)  # θ_ε·z(s), per environment
            return self.actor[-1](features) + noise
        dist = self.distribution(obs)
        return dist.mode if deterministic else sample(dist, self.generator)

    @torch.no_grad()
    def resample_noise(self, num_envs: int) -> None:
        """gSDE: draw new exploration matrices θ_ε ~ N(0, σ²), one per environment."""
        std = self.log_std.exp().expand(num_envs, *self.log_std.shape)
        self.exploration = torch.normal(torch.zeros_like(std), std, generator=self.generator)
