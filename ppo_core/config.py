"""Every hyperparameter of a run in one validated dataclass (CleanRL's ``Args``, hardened).

A run is reproducible from its ``PPOConfig`` alone. Construction validates every field and
raises ``ValueError`` whose message starts with the field's name and gives the allowed range,
so the command line and the app can show it as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .envs import ENVIRONMENTS

__all__ = ["PPOConfig", "OBJECTIVES"]

OBJECTIVES = ("clip", "kl_penalty", "none")


@dataclass(frozen=True)
class PPOConfig:
    env_id: str = "CartPole-v1"
    """environment key: one of ppo_core.envs.ENVIRONMENTS"""
    seed: int = 1
    """seed of the networks, the environments and the minibatch shuffles"""
    total_steps: int = 100_000
    """environment steps (summed over parallel environments) before training stops"""
    num_envs: int = 8
    """parallel environments in the vector environment"""
    num_steps: int = 128
    """steps per environment per rollout; batch size = num_envs · num_steps"""
    num_minibatches: int = 4
    """minibatches the batch is split into in each epoch"""
    update_epochs: int = 4
    """K: passes over the batch per update"""
    learning_rate: float = 2.5e-4
    """Adam step size (for actor and critic)"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over total_steps"""
    gamma: float = 0.99
    """discount factor γ"""
    gae_lambda: float = 0.95
    """GAE λ: 0 is one-step TD, 1 is rewards-to-go minus V"""
    objective: str = "clip"
    """policy objective: 'clip' (L^CLIP), 'kl_penalty' (L^KLPEN, adaptive β) or 'none' (r·A)"""
    clip_coef: float = 0.2
    """ε of the clipped objective"""
    kl_beta: float = 1.0
    """initial β of the KL-penalty objective"""
    kl_target: float = 0.01
    """d_targ of the adaptive-β rule"""
    target_kl: float | None = None
    """stop an update's epochs early once approx_kl exceeds this (None: never)"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    clip_vloss: bool = False
    """clip the value update to ±clip_coef around the old value (PPO2 style)"""
    vf_coef: float = 0.5
    """weight of the value loss in the total loss"""
    ent_coef: float = 0.0
    """weight of the entropy bonus in the total loss"""
    max_grad_norm: float | None = 0.5
    """clip the global gradient norm to this (None: no clipping)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the actor and of the critic"""
    activation: str = "tanh"
    """hidden activation: 'tanh' or 'relu'"""
    shared_trunk: bool = False
    """one trunk for actor and critic instead of two networks"""
    log_std_init: float = 0.0
    """initial log σ of a Gaussian policy"""
    normalize_obs: bool = False
    """running mean/std observation normalisation (Gymnasium's NormalizeObservation)"""
    normalize_reward: bool = False
    """scale rewards by a running std of the discounted return (Gymnasium's NormalizeReward)"""
    target_return: float | None = None
    """the preset's goal for the mean return of the last 20 episodes"""
    stop_at_target: bool = False
    """end training as soon as the mean of the last 20 returns reaches target_return"""

    def __post_init__(self):
        # Normalise list inputs (from JSON or a form) before validating.
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        for f in dataclasses.fields(self):
            _validate(f.name, getattr(self, f.name))
        if self.num_minibatches > self.batch_size // 2:
            raise ValueError(
                f"num_minibatches: must be between 1 and {self.batch_size // 2} for a batch of "
                f"{self.batch_size} (num_envs × num_steps), so every minibatch holds at least 2 samples; got {self.num_minibatches}"
            )
        if self.batch_size > self.total_steps:
            raise ValueError(
                f"total_steps: must be at least one batch (num_envs × num_steps = {self.batch_size}); got {self.total_steps}"
            )

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def replace(self, **changes: Any) -> "PPOConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PPOConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{unknown[0]}: not a PPOConfig field")
        return cls(**data)


# field -> (kind, low, high) ; kind: int, float, bool, choice, optional float
_RANGES: dict[str, tuple] = {
    "seed": ("int", 0, 2**31 - 1),
    "total_steps": ("int", 1, 50_000_000),
    "num_envs": ("int", 1, 64),
    "num_steps": ("int", 1, 8192),
    "num_minibatches": ("int", 1, 4096),
    "update_epochs": ("int", 1, 100),
    "learning_rate": ("float_open_low", 0.0, 1.0),
    "gamma": ("float", 0.0, 1.0),
    "gae_lambda": ("float", 0.0, 1.0),
    "clip_coef": ("float_open", 0.0, 1.0),
    "kl_beta": ("float", 0.0, 1000.0),
    "kl_target": ("float_open_low", 0.0, 10.0),
    "target_kl": ("optional_float_open_low", 0.0, 10.0),
    "vf_coef": ("float", 0.0, 100.0),
    "ent_coef": ("float", 0.0, 1.0),
    "max_grad_norm": ("optional_float_open_low", 0.0, 1000.0),
    "log_std_init": ("float", -5.0, 2.0),
    "target_return": ("optional_float", -math.inf, math.inf),
}
_BOOLS = {"anneal_lr", "norm_adv", "clip_vloss", "shared_trunk", "normalize_obs", "normalize_reward", "stop_at_target"}
_CHOICES = {"env_id": tuple(ENVIRONMENTS), "objective": OBJECTIVES, "activation": ("tanh", "relu")}


def _validate(name: str, value: Any) -> None:
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: must be true or false; got {value!r}")
        return
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise ValueError(f"{name}: must be one of {', '.join(_CHOICES[name])}; got {value!r}")
        return
    if name == "hidden_sizes":
        ok = (
            isinstance(value, tuple)
            and 1 <= len(value) <= 4
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024 for v in value)
        )
        if not ok:
            raise ValueError(f"hidden_sizes: must be 1 to 4 layer widths, each an integer from 1 to 1024; got {value!r}")
        return
    kind, low, high = _RANGES[name]
    if kind.startswith("optional"):
        if value is None:
            return
        kind = kind.removeprefix("optional_")
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name}: must be an integer from {low} to {high}; got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name}: must be a number; got {value!r}")
    if kind == "float" and not low <= value <= high:
        raise ValueError(f"{name}: must be from {low} to {high}; got {value!r}")
    if kind == "float_open_low" and not low < value <= high:
        raise ValueError(f"{name}: must be greater than {low} and at most {high}; got {value!r}")
    if kind == "float_open" and not low < value < high:
        raise ValueError(f"{name}: must be strictly between {low} and {high}; got {value!r}")


def field_range(name: str) -> tuple | None:
    """(kind, low, high) of a numeric field, for forms that want to show the allowed range."""
    return _RANGES.get(name)
