"""Train every preset to its target for several seeds and print steps and seconds for each.

    python scripts/preset_times.py --seeds 1 2 3 [--presets cartpole pendulum] [--workers 1]

The figures in the README's preset table come from this script. With --workers 2 the two
cores are shared by two runs, so seconds are higher than for one run alone. The cpu column is
the run's own CPU time (one torch thread): on a machine busy with other work the wall seconds
grow, the CPU seconds much less, so the two together tell a slow run from a crowded machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: ppo_core is beside scripts/

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor


def run(job: tuple[str, int]) -> tuple[str, int, int, float, float, bool, float | None]:
    from ppo_core import PRESETS, PPOTrainer

    name, seed = job
    trainer = PPOTrainer(PRESETS[name].replace(seed=seed, stop_at_target=True))
    cpu0 = time.process_time()
    for _ in trainer.iterate():
        pass
    cpu = time.process_time() - cpu0
    trainer.close()
    return name, seed, trainer.global_step, trainer.wall_s, cpu, trainer.reached_target, trainer.episode_return_mean


def main() -> None:
    from ppo_core import PRESETS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    jobs = [(p, s) for p in args.presets for s in args.seeds]
    rows: dict[str, list] = {p: [] for p in args.presets}
    print(f"{'preset':<24}{'seed':>5}{'steps':>10}{'seconds':>9}{'cpu':>7}  reached  return(20)")
    with ProcessPoolExecutor(args.workers) as pool:
        for name, seed, steps, wall, cpu, reached, ret in pool.map(run, jobs):
            rows[name].append((steps, wall, reached, cpu))
            print(f"{name:<24}{seed:>5}{steps:>10}{wall:>9.1f}{cpu:>7.1f}  {'yes' if reached else 'NO ':<7}  {ret:.1f}", flush=True)
    print()
    for name, r in rows.items():
        print(
            f"{name:<24} reached {sum(x[2] for x in r)}/{len(r)}  steps median {statistics.median(x[0] for x in r):,.0f} "
            f"max {max(x[0] for x in r):,}  seconds median {statistics.median(x[1] for x in r):.1f} max {max(x[1] for x in r):.1f}"
            f"  cpu median {statistics.median(x[3] for x in r):.1f} max {max(x[3] for x in r):.1f}"
        )


if __name__ == "__main__":
    main()
