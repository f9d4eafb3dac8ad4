"""Comparison runs: the same preset and seed with one thing changed, and a one-line reading.

Pure functions (no Streamlit): the training page starts one run per config of
:func:`comparison_configs` and writes :func:`comparison_reading` under the overlaid curves.
"""

from __future__ import annotations

from typing import Sequence

from ppo_core import PPOConfig
from ui.report import run_outcome

# What a comparison varies, as the page offers it: key -> (label, what each run is called).
COMPARISONS = {
    "clip_vs_none": "clipped vs no clipping",
    "clip_vs_kl": "clipped vs KL penalty",
    "all_objectives": "clipped vs no clipping vs KL penalty",
    "two_learning_rates": "two learning rates",
}


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
    raise ValueError(f"comparison: unknown kind {kind!r}; one of {', '.join(COMPARISONS)}")


# How a comparison's run is named by its objective (the legend and the reading).
VARIANT_NAMES = {"clip": "clipped, ε = {eps:g}", "none": "no clipping", "kl_penalty": "KL penalty"}


def variant_name(cfg: PPOConfig, kind: str) -> str:
    """What tells a comparison's runs apart, in a few words ('ε = 0.2', 'no clipping', 'lr 0.001')."""
    if kind == "two_learning_rates":
        return f"lr {cfg.learning_rate:g}"
    return VARIANT_NAMES[cfg.objective].format(eps=cfg.clip_coef, kl_target=cfg.kl_target)


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
