"""Reading a run's logged statistics: has its learning collapsed?

A learning rate far too large (1, say) rarely makes the loss non-finite, which the trainer
catches as divergence. The policy collapses instead, in one of two ways the logged statistics
show. Either each update moves it so far from the policy that collected the batch that approx
KL reaches 10² to 10¹¹ and almost every ratio leaves the clip range (Pendulum); or within a few
updates it becomes deterministic, always the same action (entropy exactly 0, or a Gaussian's σ
near 0), and then nothing moves any more: approx KL and the clip fraction fall to 0, or are no
longer numbers (CartPole, Acrobot). Either way the run goes on with its return stuck, and only
these statistics tell why.
"""

from __future__ import annotations

from collections.abc import Sequence

from .presets import PRESETS

# Measured on every preset trained to its full budget (seeds 0 and 1 for approx KL and the clip
# fraction, seed 1 for entropy and σ), in any single update:
#   approx KL at most 0.033 (medians 0.0005-0.006); clip fraction at most 0.29;
#   entropy at least 0.099 (discrete actions); σ at least 0.26 (Gaussian policies).
# Runs that train but are not the presets: cartpole with "no clipping" reaches approx KL 0.78,
# clip fraction 0.44 and entropy down to 0.038, with the KL penalty 0.11 and 0.38, at learning
# rate 0.01 0.088 and 0.36. (Pendulum with "no clipping" does not learn, return -1382 after 200k
# steps, with approx KL 0.62 and clip fraction 0.74 typical: it gets the warning, rightly.)
# Learning rate 1: approx KL 64-100 in the first updates of every discrete preset, then entropy 0
# within a few updates; on pendulum approx KL 10⁸-10¹¹, clip fraction 0.988, σ 0.0007-0.003.
# Each limit sits well outside every run that learns and well inside every collapse.
APPROX_KL_LIMIT = 1.0  # 30 times the presets' largest, above "no clipping"'s 0.78
CLIP_FRACTION_LIMIT = 0.5  # half the batch outside [1 - ε, 1 + ε]; "no clipping" reaches 0.44
ENTROPY_FLOOR = 0.01  # nats: the likeliest action has probability above 0.999; the presets stay above 0.099
STD_FLOOR = 0.01  # the Gaussian's σ, in action units; the presets stay above 0.26
# Updates in a row: one wild update happens and the next ones undo it; several in a row mean the
# run is not coming back.
COLLAPSE_UPDATES = 3

# (statistic, name on the page, is it beyond its limit, the usual range, what it means)
_CHECKS = (
    ("approx_kl", "approx KL", lambda v: v > APPROX_KL_LIMIT, "below 0.05",
     "each update moves the policy far from the one that collected its batch"),
    ("clip_fraction", "the clip fraction", lambda v: v > CLIP_FRACTION_LIMIT, "below 0.3",
     "each update moves the policy far from the one that collected its batch"),
    ("std", "the policy's σ", lambda v: v < STD_FLOOR, "above 0.2",
     "the policy has become deterministic and no longer explores"),
    ("entropy", "the policy's entropy", lambda v: v < ENTROPY_FLOOR, "above 0.05",
     "the policy picks the same action every time and no longer explores"),
)


def _preset_rates() -> str:
    rates = sorted({p.learning_rate for p in PRESETS.values()})
    return f"{rates[0]:g} to {rates[-1]:g}" if len(rates) > 1 else f"{rates[0]:g}"


def collapse_warning(records: Sequence[dict]) -> str | None:
    """A sentence saying that the run's learning has collapsed, or None.

    Collapsed: in each of the last ``COLLAPSE_UPDATES`` updates approx KL is above
    ``APPROX_KL_LIMIT`` (or not a number: the trainer logs NaN and ±inf as None), or in each the
    clip fraction is above ``CLIP_FRACTION_LIMIT``, or the policy is deterministic (σ below
    ``STD_FLOOR`` for a Gaussian policy, else entropy below ``ENTROPY_FLOOR``). The sentence names
    the statistic, its value and the usual range, and suggests a smaller learning rate."""
    recent = list(records[-COLLAPSE_UPDATES:])
    if len(recent) < COLLAPSE_UPDATES:
        return None
    gaussian = all("std" in r for r in recent)  # a Gaussian's entropy has no floor at 0: read σ
    for stat, name, beyond, usual, meaning in _CHECKS:
        if stat == "entropy" and gaussian:
            continue
        if not all(stat in r for r in recent):
            continue
        values = [r[stat] for r in recent]
        finite = [v for v in values if v is not None]
        nan_too_far = stat == "approx_kl"  # NaN KL: a ratio of an action now given probability 0
        if not all((v is None and nan_too_far) or (v is not None and beyond(v)) for v in values):
            continue
        if not finite:
            shown = "is no longer a number (some action it took now has probability 0, so its ratio is infinite)"
        else:
            high = stat in ("approx_kl", "clip_fraction")  # a limit above, or a floor below
            shown = f"is at least {min(finite):.3g}" if high else f"is at most {max(finite):.3g}"
            shown += ", or not a number," if len(finite) < len(values) else ""
        lr = records[0].get("learning_rate")  # the first update's: the configured rate, before any annealing
        than = f" than this run's {lr:g}" if isinstance(lr, float | int) else ""
        return (
            f"Learning has collapsed: {name} {shown} in each of the last {len(recent)} updates, where a "
            f"healthy run stays {usual}: {meaning}, so the return stops improving. Try a smaller "
            f"learning rate{than} (the presets use {_preset_rates()})."
        )
    return None
