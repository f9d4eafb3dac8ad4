"""Comparison runs: the same preset and seed with one thing changed, and a one-line reading.

Pure functions (no Streamlit): the training page starts one run per config of
:func:`comparison_configs` and writes :func:`comparison_reading` under the overlaid curves.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ppo_core import PPOConfig
from ppo_core.config import settings
from ui.report import run_outcome

SETTINGS = settings(PPOConfig)

# What a comparison varies, as the page offers it: key -> its name in the page's menu. Each is an
# A/B (or A/B/C) on the same seed: the runs differ in that one setting only.
COMPARISONS = {
    "clip_vs_none": "clipped vs no clipping",
    "clip_vs_kl": "clipped vs KL penalty",
    "all_objectives": "clipped vs no clipping vs KL penalty",
    "two_learning_rates": "two learning rates",
    "lr_too_high": "the learning rate vs one too high",
    "norm_adv": "advantage normalisation on vs off",
    "clip_vloss": "value-loss clipping on vs off",
    "anneal_lr": "learning-rate annealing on vs off",
    "entropy_bonus": "entropy bonus on vs off",
    "target_kl": "no early stop vs a target KL",
}
# The settings the on/off comparisons switch (a PPOConfig field each).
SWITCHES = {"norm_adv": "norm_adv", "clip_vloss": "clip_vloss", "anneal_lr": "anneal_lr"}
ENTROPY_BONUS = 0.01  # the "on" entropy coefficient when the controls have none (a common value for discrete control)
TARGET_KL = 0.01  # the early-stop threshold when the controls set none
TOO_HIGH = 40  # "too high": this many times the learning rate (cartpole, seed 1, 60 k steps: 0.1 ends near a return of 130, 0.01 at 500)


def comparison_configs(cfg: PPOConfig, kind: str, second_learning_rate: float | None = None) -> list[PPOConfig]:
    """The runs of one comparison: ``cfg`` (everything as the controls set it, seed included)
    with only the compared setting changed. The first config is the reference.

    ``two_learning_rates`` needs ``second_learning_rate``; every config is validated by
    :class:`PPOConfig` (a ValueError names the field)."""
    if kind == "clip_vs_none":
        return [cfg.replace(objective="clip"), cfg.replace(objective="none")]
    if kind == "clip_vs_kl":
        return [cfg.replace(objective="clip"), cfg.replace(objective="kl_penalty")]
    if kind == "all_objectives":
        return [cfg.replace(objective=o) for o in ("clip", "none", "kl_penalty")]
    if kind == "two_learning_rates":
        if second_learning_rate is None:
            raise ValueError("second learning rate: give a value to compare with")
        if second_learning_rate == cfg.learning_rate:
            raise ValueError(f"second learning rate: must differ from the first ({cfg.learning_rate:g})")
        return [cfg, cfg.replace(learning_rate=second_learning_rate)]
    if kind == "lr_too_high":
        high = min(cfg.learning_rate * TOO_HIGH, 0.5)
        if high <= cfg.learning_rate:
            raise ValueError(f"learning rate: {cfg.learning_rate:g} leaves no higher rate to compare with (at most 0.5)")
        return [cfg, cfg.replace(learning_rate=high)]
    if kind in SWITCHES:
        return [cfg.replace(**{SWITCHES[kind]: True}), cfg.replace(**{SWITCHES[kind]: False})]
    if kind == "entropy_bonus":
        return [cfg.replace(ent_coef=cfg.ent_coef or ENTROPY_BONUS), cfg.replace(ent_coef=0.0)]
    if kind == "target_kl":
        return [cfg.replace(target_kl=None), cfg.replace(target_kl=cfg.target_kl or TARGET_KL)]
    raise ValueError(f"comparison: unknown kind {kind!r}; one of {', '.join(COMPARISONS)}")


def _on_off(what: str) -> Callable[[PPOConfig, str], str]:
    return lambda cfg, name: f"{what} {'on' if getattr(cfg, name) else 'off'}"


# How a setting that differs between the runs names each run; any other: "<its label> <value>".
_PHRASES: dict[str, Callable[[PPOConfig, str], str]] = {
    "objective": lambda cfg, _: {
        "clip": f"clipped, ε = {cfg.clip_coef:g}", "none": "no clipping", "kl_penalty": f"KL penalty, d_targ {cfg.kl_target:g}",
    }[cfg.objective],
    "clip_coef": lambda cfg, _: f"ε = {cfg.clip_coef:g}",
    "learning_rate": lambda cfg, _: f"lr {cfg.learning_rate:g}",
    "kl_target": lambda cfg, _: f"d_targ {cfg.kl_target:g}",
    "norm_adv": _on_off("advantage normalisation"),
    "clip_vloss": _on_off("value-loss clipping"),
    "anneal_lr": _on_off("learning-rate annealing"),
    "ent_coef": lambda cfg, _: f"entropy bonus {cfg.ent_coef:g}" if cfg.ent_coef else "no entropy bonus",
    "target_kl": lambda cfg, _: f"target KL {cfg.target_kl:g}" if cfg.target_kl is not None else "no target KL",
}
_FOLDED = {"clip_coef": "objective", "kl_target": "objective"}  # said by the objective's phrase when it differs too


def variant_labels(configs: Sequence[PPOConfig]) -> list[str]:
    """What tells each of ``configs`` apart, in a few words, from the settings whose values
    differ between them: "clipped, ε = 0.2", "no clipping", "KL penalty, d_targ 0.01", "lr 0.001",
    "value-loss clipping off" (several differences are joined by commas). The legends and the
    reading of a comparison name its runs by these; configs that do not differ are "as set"."""
    values = [c.to_dict() for c in configs]
    differs = [name for name in values[0] if any(v[name] != values[0][name] for v in values[1:])]
    shown = [name for name in differs if _FOLDED.get(name) not in differs]
    labels = []
    for cfg in configs:
        parts = []
        for name in shown:
            phrase = _PHRASES.get(name)
            if phrase is not None:
                parts.append(phrase(cfg, name))
            else:
                value = getattr(cfg, name)
                parts.append(f"{SETTINGS[name].in_text} {value:g}" if isinstance(value, float) else f"{SETTINGS[name].in_text} {value}")
        labels.append(", ".join(parts) or "as set")
    return labels


def comparison_reading(names: Sequence[str], records: Sequence[Sequence[dict]], target: float, budgets: Sequence[int]) -> str:
    """One line on what differs between the runs: who reached ``target`` first (in steps), the
    final mean return of each, and the largest approx KL of each. ``names[i]`` is run i's
    variant, ``records[i]`` its records so far, ``budgets[i]`` its step budget."""
    parts, reached = [], []
    for name, recs, budget in zip(names, records, budgets):
        o = run_outcome(recs, target)
        final = "—" if o["final_return"] is None else f"{o['final_return']:.0f}"
        kl = "—" if o["max_approx_kl"] is None else f"{o['max_approx_kl']:.3f}"
        if o["steps_to_target"] is not None:
            reached.append((o["steps_to_target"], name))
            where = f"reached {target:g} at {o['steps_to_target']:,} steps"
        else:
            where = f"not at {target:g} after {o['global_step'] or 0:,} of {budget:,} steps"
        parts.append(f"**{name}** {where}, final return {final}, max KL {kl}")
    lead = ""
    if reached:
        steps, first = min(reached)
        lead = f"{first} got there first. " if len(reached) > 1 or len(names) > 1 else ""
    return lead + "; ".join(parts) + "."
