"""Seed spread: the same settings trained on N seeds, read as the median return with a min–max band.

One run on one seed can be lucky (or unlucky): a spread trains the settings on the seeds
s, s + 1, …, s + N − 1 (s is the seed the controls set) and draws, at each environment step,
the median of the seeds' mean returns and the band from the lowest to the highest. A comparison
can be spread too: each variant on the same N seeds, one median and band per variant.

Pure functions (no Streamlit): the training page submits the runs of :func:`spread_configs`
in the order of :func:`feed_order` and draws :func:`seed_spread`'s table with
``ui.charts.seed_spread_chart``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from ppo_core import PPOConfig
from ui.report import run_outcome

DEFAULT_SEEDS = 5
MIN_SEEDS, MAX_SEEDS = 2, 10  # one seed is no spread; past ten the queue of a class server grows long


def check_seeds(n) -> int:
    """The number of seeds, or a ValueError naming the field and its range."""
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or not MIN_SEEDS <= n <= MAX_SEEDS:
        raise ValueError(f"number of seeds: a whole number from {MIN_SEEDS} to {MAX_SEEDS} (got {n})")
    return int(n)


def spread_configs(cfg: PPOConfig, n: int) -> list[PPOConfig]:
    """``cfg`` on the seeds ``cfg.seed``, ``cfg.seed + 1``, …: every other setting unchanged.
    Each config is validated by :class:`PPOConfig` (a seed past its range names the field)."""
    return [cfg.replace(seed=cfg.seed + i) for i in range(check_seeds(n))]


def feed_order(variants: Sequence[Sequence[PPOConfig]]) -> list[tuple[int, PPOConfig]]:
    """The runs of a spread comparison as (variant index, config), seed by seed: the first seed
    of every variant, then the second, …, so that while the queue drains every variant has as
    many seeds drawn as the others (never all of A before any of B)."""
    return [(v, configs[i]) for i in range(max(map(len, variants), default=0))
            for v, configs in enumerate(variants) if i < len(configs)]


@dataclass
class SpreadPlan:
    """A spread's runs, in the order they are to be queued, and the ones queued so far.

    The server lets each student have only a few runs queued, running or paused at once
    (runs.manager.MAX_RUNS_PER_STUDENT), fewer than a spread's N seeds: the page queues the next
    seeds as earlier ones end (:meth:`take`), so a spread of any allowed size fits the cap."""

    group: str
    names: list[str]  # each variant's name (ui.compare.variant_labels; one variant: the spread's)
    seeds: list[int]  # the seeds every variant trains on
    order: list[tuple[int, PPOConfig]]  # (variant index, config), as feed_order gives them
    preset: str  # the preset the runs start from (their label and the store's)
    run_ids: list[str] = field(default_factory=list)  # the runs queued so far, in order's order
    cancelled: bool = False  # Stop: no further seed is queued

    @property
    def pending(self) -> int:
        """Runs not queued yet (0 once stopped)."""
        return 0 if self.cancelled else len(self.order) - len(self.run_ids)

    def take(self, room: int | None) -> list[tuple[int, PPOConfig]]:
        """The next runs to queue, at most ``room`` of them (None: no limit)."""
        start = len(self.run_ids)
        return self.order[start:start + (self.pending if room is None else min(room, self.pending))]

    def variant_of(self, run_id: str) -> int:
        return self.order[self.run_ids.index(run_id)][0]


COLUMNS = ["global_step", "median", "min", "max", "seeds"]


def seed_spread(records_per_seed: Sequence[Sequence[dict]], held: Sequence[bool] | None = None,
                metric: str = "episode_return_mean", min_seeds: int = 1) -> pd.DataFrame:
    """The median, lowest and highest of ``metric`` over the seeds at each environment step.

    ``records_per_seed[i]`` is seed i's records (``global_step`` and ``metric``; a ``None``
    value, a mean return before any episode ended, is no data). Runs of the same settings have
    the same batch size, so their steps coincide; where they do not, a seed counts at a step
    with its latest value at or before it. A seed covers only the steps it has reached — a seed
    still training or still queued is left out beyond its last record — except where
    ``held[i]`` is true (it stopped at the target: its last value stands for the rest, since
    the run ended there for having learned). ``seeds`` says how many seeds each row covers;
    rows covering fewer than ``min_seeds`` are left out (the page passes 2: where one seed is
    ahead of the others, a "median" would be that seed alone, which its own curve already shows).
    """
    held = list(held) if held is not None else [False] * len(records_per_seed)
    columns = {}
    for i, records in enumerate(records_per_seed):
        points = {r["global_step"]: float(r[metric]) for r in records if r.get(metric) is not None}
        if points:
            columns[i] = pd.Series(points, dtype=float)
    if not columns:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("median", "min", "max") else int) for c in COLUMNS})
    wide = pd.concat(columns, axis=1).sort_index()
    for i, own in columns.items():
        last = own.index.max()
        wide[i] = wide[i].ffill()  # never fills before a seed's first value
        if not held[i]:
            wide.loc[wide.index > last, i] = float("nan")
    wide = wide[wide.count(axis=1) >= min_seeds]
    return pd.DataFrame({
        "global_step": wide.index.astype(int),
        "median": wide.median(axis=1).to_numpy(),
        "min": wide.min(axis=1).to_numpy(),
        "max": wide.max(axis=1).to_numpy(),
        "seeds": wide.count(axis=1).to_numpy(),
    }).reset_index(drop=True)


def spread_reading(names: Sequence[str], records: Sequence[Sequence[Sequence[dict]]], target: float) -> str:
    """One line per variant: how many of its seeds reached ``target`` (and the median steps it
    took them), and the median, lowest and highest final mean return. ``records[v][i]`` is
    seed i of variant v's records so far."""
    parts = []
    for name, seeds in zip(names, records):
        outcomes = [run_outcome(recs, target) for recs in seeds]
        reached = [o["steps_to_target"] for o in outcomes if o["steps_to_target"] is not None]
        finals = pd.Series([o["final_return"] for o in outcomes if o["final_return"] is not None], dtype=float)
        where = f"{len(reached)} of {len(seeds)} seeds reached {target:g}"
        if reached:
            where += f" (median {statistics.median(reached):,.0f} steps)"
        final = (f"final return median {finals.median():.0f} (lowest {finals.min():.0f}, highest {finals.max():.0f})"
                 if len(finals) else "no episode finished yet")
        parts.append(f"**{name}**: {where}; {final}")
    return "; ".join(parts) + "."
