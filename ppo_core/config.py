"""Every hyperparameter of a run in one validated dataclass (CleanRL's ``Args``, hardened).

A run is reproducible from its ``PPOConfig`` alone. Each field is declared once, with a
:class:`Setting` beside its default: what it means, its allowed range, and how a person sets it
(its label, a control's step). Everything else derives from that one declaration: the validation
here (a ``ValueError`` whose message starts with the field's name and gives the allowed range),
the command line's ``--set FIELD=VALUE``, the training page's controls and their URL parameters,
and the lab report's setting names. Adding a hyperparameter is one edit: a field below.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from .envs import ENVIRONMENTS

__all__ = ["PPOConfig", "OBJECTIVES", "Setting", "setting", "settings"]


@dataclass(frozen=True)
class Setting:
    """How one hyperparameter may be set, declared once beside its default.

    The kind of value (int, float, bool, str, tuple, and whether None is allowed) is the field's
    type annotation; a Setting adds what the annotation cannot say.
    """

    help: str
    """what the hyperparameter is, in one line (CLI help, the control's tooltip)"""
    label: str | None = None
    """a reader's name ('Clip range ε'); None: the field's name"""
    low: float | None = None
    high: float | None = None
    """the allowed range of a number, inclusive unless open"""
    low_open: bool = False
    high_open: bool = False
    """the bound itself is not allowed (a learning rate must be > 0)"""
    choices: dict[str, str] | None = None
    """allowed values of a str, each with a reader's name"""
    control: str | None = None
    """how the training page shows it: 'slider', 'number', 'select' or 'toggle'; None: not shown.
    Settings shown on the page are also the ones every lab report lists."""
    step: float | None = None
    """the control's step"""
    fmt: str | None = None
    """the control's number format ('%.5f')"""
    short: str | None = None
    """a short name for file names ('eps', 'lr'); None: the field's name"""


def setting(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with ``default`` and its :class:`Setting` (in the field's metadata)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(help, **kw)})


OBJECTIVE_NAMES = {"clip": "clipped (L^CLIP)", "kl_penalty": "KL penalty, adaptive β", "none": "no clipping (r·A)"}
OBJECTIVES = tuple(OBJECTIVE_NAMES)


@dataclass(frozen=True)
class PPOConfig:
    env_id: str = setting("CartPole-v1", "environment key", label="Environment",
                          choices={k: spec.title for k, spec in ENVIRONMENTS.items()})
    seed: int = setting(1, "seed of the networks, the environments and the minibatch shuffles",
                        label="Seed", low=0, high=2**31 - 1, control="number", step=1)
    total_steps: int = setting(100_000, "environment steps (summed over parallel environments) before training stops",
                               label="Step budget", low=1, high=10_000_000, control="number", step=10_000, short="budget")
    objective: str = setting("clip", "policy objective: L^CLIP, L^KLPEN with adaptive β, or the unclipped r·A",
                             label="Objective", choices=OBJECTIVE_NAMES, control="select", short="obj-")
    clip_coef: float = setting(0.2, "ε of the clipped objective", label="Clip range ε",
                               low=0.0, high=1.0, low_open=True, high_open=True, control="slider", step=0.01, short="eps")
    learning_rate: float = setting(2.5e-4, "Adam step size (for actor and critic)", label="Learning rate",
                                   low=0.0, high=1.0, low_open=True, control="number", step=1e-4, fmt="%.5f", short="lr")
    gamma: float = setting(0.99, "discount factor γ", label="Discount γ",
                           low=0.0, high=1.0, control="slider", step=0.001, fmt="%.3f")
    gae_lambda: float = setting(0.95, "GAE λ: 0 is one-step TD, 1 is rewards-to-go minus V", label="GAE λ",
                                low=0.0, high=1.0, control="slider", step=0.01, short="lambda")
    ent_coef: float = setting(0.0, "weight of the entropy bonus in the total loss", label="Entropy coefficient",
                              low=0.0, high=1.0, control="number", step=0.001, fmt="%.3f", short="ent")
    num_envs: int = setting(8, "parallel environments in the vector environment", label="Environments",
                            low=1, high=64, control="number", step=1, short="N")
    num_steps: int = setting(128, "steps per environment per rollout; batch size = num_envs · num_steps",
                             label="Steps per rollout (each env)", low=1, high=8192, control="number", step=8, short="T")
    update_epochs: int = setting(4, "K: passes over the batch per update", label="Epochs K",
                                 low=1, high=100, control="number", step=1, short="K")
    num_minibatches: int = setting(4, "minibatches the batch is split into in each epoch", label="Minibatches",
                                   low=1, high=4096, control="number", step=1, short="mb")
    anneal_lr: bool = setting(True, "decay the learning rate linearly to 0 over total_steps", label="Anneal the learning rate")
    kl_beta: float = setting(1.0, "initial β of the KL-penalty objective", label="Initial β", low=0.0, high=1000.0)
    kl_target: float = setting(0.01, "d_targ of the adaptive-β rule", label="KL target d_targ",
                               low=0.0, high=10.0, low_open=True)
    target_kl: float | None = setting(None, "stop an update's epochs early once approx_kl exceeds this (None: never)",
                                      label="Target KL (early stop)", low=0.0, high=10.0, low_open=True)
    norm_adv: bool = setting(True, "normalise advantages per minibatch", label="Normalise advantages")
    clip_vloss: bool = setting(False, "clip the value update to ±clip_coef around the old value (PPO2 style)",
                               label="Clip the value loss")
    vf_coef: float = setting(0.5, "weight of the value loss in the total loss", label="Value-loss coefficient",
                             low=0.0, high=100.0)
    max_grad_norm: float | None = setting(0.5, "clip the global gradient norm to this (None: no clipping)",
                                          label="Max gradient norm", low=0.0, high=1000.0, low_open=True)
    hidden_sizes: tuple[int, ...] = setting((64, 64), "hidden layer widths of the actor and of the critic",
                                            label="Hidden layers", low=1, high=1024)
    activation: str = setting("tanh", "hidden activation", label="Activation", choices={"tanh": "tanh", "relu": "ReLU"})
    shared_trunk: bool = setting(False, "one trunk for actor and critic instead of two networks", label="Shared trunk")
    ortho_init: bool = setting(True, "orthogonal initial weights (gain √2, policy head 0.01) instead of PyTorch's default",
                               label="Orthogonal initialisation")
    log_std_init: float = setting(0.0, "initial log σ of a Gaussian policy", label="Initial log σ", low=-5.0, high=2.0)
    sde_sample_freq: int | None = setting(
        None, "gSDE, state-dependent exploration (continuous actions): draw new noise every this many steps "
        "(0: once per rollout; None: a plain Gaussian policy)", label="gSDE noise drawn every (steps; 0: once per rollout)", low=0, high=8192)
    normalize_obs: bool = setting(False, "running mean/std observation normalisation, one statistic for all environments",
                                  label="Normalise observations")
    normalize_reward: bool = setting(False, "scale rewards by a running std of the discounted return (Gymnasium's NormalizeReward)",
                                     label="Normalise rewards")
    target_return: float | None = setting(None, "the preset's goal for the mean return of the last 20 episodes", label="Target return")
    stop_at_target: bool = setting(False, "end training as soon as the mean of the last 20 returns reaches target_return",
                                   label="Stop at the target")

    def __post_init__(self):
        # Normalise list inputs (from JSON or a form) before validating.
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        for name, s in settings(type(self)).items():
            s.check(getattr(self, name))
        if self.num_minibatches > self.batch_size // 2:
            # in the words of the page's controls too: a student sets "Minibatches", not num_minibatches
            raise ValueError(
                f"num_minibatches: must be between 1 and {self.batch_size // 2} so that minibatches × minibatch size "
                f"fill the batch, environments × steps per environment = {self.num_envs} × {self.num_steps} = "
                f"{self.batch_size} samples, with at least 2 samples in every minibatch; got {self.num_minibatches}"
            )
        if self.sde_sample_freq is not None and not ENVIRONMENTS[self.env_id].continuous:
            raise ValueError(
                f"sde_sample_freq: gSDE draws noise for continuous actions, and {ENVIRONMENTS[self.env_id].title} "
                f"has discrete ones; set it to none; got {self.sde_sample_freq}"
            )
        if self.batch_size > self.total_steps:
            raise ValueError(
                f"total_steps: must be at least one batch, environments × steps per environment = "
                f"{self.num_envs} × {self.num_steps} = {self.batch_size} steps; got {self.total_steps}"
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


# -- the Setting, bound to its field: checking and parsing derive from the declaration ----------
@dataclass(frozen=True)
class BoundSetting(Setting):
    """A :class:`Setting` with its field's name and value type, as :func:`settings` returns it."""

    name: str = ""
    kind: str = ""
    """'int', 'float', 'bool', 'str' or 'tuple' (from the annotation)"""
    optional: bool = False
    """None is allowed (the annotation says ``| None``)"""
    default: Any = None

    @property
    def title(self) -> str:
        """The label as a control shows it ('Clip range ε')."""
        return self.label or self.name

    @property
    def in_text(self) -> str:
        """The label inside a sentence or a table ('clip range ε', but 'GAE λ')."""
        t = self.title
        return t[0].lower() + t[1:] if len(t) > 1 and t[1].islower() else t

    def allowed(self) -> str:
        """The allowed values, in words ('a number greater than 0 and at most 1')."""
        if self.kind == "bool":
            text = "true or false"
        elif self.choices is not None:
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "tuple":
            text = f"1 to 4 layer widths, each an integer from {_num(self.low)} to {_num(self.high)}"
        elif self.kind in ("int", "float"):
            # (floats with bounds read "from 0.0 to 1.0": the decimal point says it is a real number)
            what = "an integer" if self.kind == "int" else ("a number" if self.low is None and self.high is None else "")
            lo, hi = _num(self.low, self.kind), _num(self.high, self.kind)
            if self.low is None and self.high is None:
                text = what
            elif self.low_open and self.high_open:
                text = f"{what} strictly between {lo} and {hi}"
            elif self.low_open:
                text = f"{what} greater than {lo} and at most {hi}"
            elif self.high_open:
                text = f"{what} from {lo} to below {hi}"
            else:
                text = f"{what} from {lo} to {hi}"
        else:
            text = "text"
        text = text.strip()
        return text + (" (or none)" if self.optional else "")

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        if self.kind == "tuple":
            return isinstance(value, tuple) and 1 <= len(value) <= 4 and all(self._in_range(v, integer=True) for v in value)
        return self._in_range(value, integer=self.kind == "int")

    def _in_range(self, value: Any, integer: bool) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def check(self, value: Any) -> None:
        """ValueError naming the field and the allowed range, unless ``value`` is allowed."""
        if not self.ok(value):
            raise ValueError(f"{self.name}: must be {self.allowed()}; got {value!r}")

    def parse(self, text: str) -> Any:
        """The value written as ``text`` (the command line, a form), checked; ValueError if not allowed."""
        raw = text.strip()
        if self.optional and raw.lower() in ("none", "null", ""):
            return None
        try:
            if self.kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                value: Any = raw.lower() in ("true", "1", "yes", "on")
            elif self.kind == "int":
                value = int(raw)
            elif self.kind == "float":
                value = float(raw)
            elif self.kind == "tuple":
                value = tuple(int(x) for x in raw.split(","))
            else:
                value = raw
        except ValueError:
            raise ValueError(f"{self.name}: must be {self.allowed()}; got {text!r}") from None
        self.check(value)
        return value


def _num(x: float | None, kind: str = "int") -> str:
    if x is None:
        return ""
    if kind == "float":
        return str(float(x))  # 0.0, 1.0: the bound of a real number reads as one
    return format(int(x), ",") if abs(x) >= 10_000 else str(int(x))


_KINDS = {int: "int", float: "float", bool: "bool", str: "str", tuple: "tuple"}


def settings(cls: type = PPOConfig) -> dict[str, BoundSetting]:
    """Every field of ``cls`` (PPOConfig or a subclass) with its :class:`BoundSetting`, in
    declaration order. A field without a Setting is an error: each must say what it allows."""
    cached = _CACHE.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        s = f.metadata.get("setting")
        if s is None:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with setting(default, help, ...)")
        args = typing.get_args(hints[f.name])
        optional = isinstance(hints[f.name], types.UnionType) and type(None) in args
        base = next(a for a in args if a is not type(None)) if optional else hints[f.name]
        kind = _KINDS[typing.get_origin(base) or base]
        out[f.name] = BoundSetting(**dataclasses.asdict(s), name=f.name, kind=kind, optional=optional, default=f.default)
    _CACHE[cls] = out
    return out


_CACHE: dict[type, dict[str, BoundSetting]] = {}
