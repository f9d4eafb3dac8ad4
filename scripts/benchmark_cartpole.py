"""Benchmark: our cartpole preset against Stable-Baselines3's PPO with the RL Zoo's tuned
CartPole-v1 hyperparameters, alternating, one torch thread each, in one process.

For each run it prints the env steps and wall seconds until the mean return of the last 20
finished episodes first reaches 475 (construction of the model and environments included for
both; the libraries' one-time imports are done before any timing), then the medians and
our/their ratio of median wall seconds.

    python scripts/benchmark_cartpole.py --seeds 1 2 3

Not a test: these machines are shared and noisy, so the figures are read, not asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: ppo_core is beside scripts/

import argparse
import statistics
import time

import numpy as np
import torch

TARGET = 475.0
WINDOW = 20


def run_ours(seed: int, max_steps: int) -> tuple[int | None, float]:
    from ppo_core import PRESETS, PPOTrainer

    t0 = time.perf_counter()
    trainer = PPOTrainer(PRESETS["cartpole"].replace(seed=seed, total_steps=max_steps, stop_at_target=True))
    for _ in trainer.iterate():
        pass
    elapsed = time.perf_counter() - t0
    trainer.close()
    return (trainer.global_step if trainer.reached_target else None), elapsed


def run_sb3(seed: int, max_steps: int) -> tuple[int | None, float]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class StopAtTarget(BaseCallback):
        reached: int | None = None

        def _on_step(self) -> bool:
            buf = self.model.ep_info_buffer
            if len(buf) >= WINDOW and np.mean([e["r"] for e in list(buf)[-WINDOW:]]) >= TARGET:
                self.reached = self.num_timesteps
                return False
            return True

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    t0 = time.perf_counter()
    # rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    cb = StopAtTarget()
    model.learn(total_timesteps=max_steps, callback=cb)
    elapsed = time.perf_counter() - t0
    env.close()
    return cb.reached, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-steps", type=int, default=100_000, help="budget per run (the zoo trains for 1e5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # One-time costs are not training: the process's first torch optimiser imports torch._dynamo
    # (3.6 s on these machines), which whichever library ran first would otherwise pay alone.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    import stable_baselines3  # noqa: F401
    import ppo_core  # noqa: F401

    results: dict[str, list[tuple[int | None, float]]] = {"ours": [], "sb3": []}
    print(f"{'run':<6}{'seed':>5}{'steps to 475':>14}{'wall s':>9}")
    for seed in args.seeds:  # alternate so that machine noise hits both alike
        for name, fn in (("ours", run_ours), ("sb3", run_sb3)):
            steps, wall = fn(seed, args.max_steps)
            results[name].append((steps, wall))
            print(f"{name:<6}{seed:>5}{steps if steps else 'not reached':>14}{wall:>9.2f}", flush=True)

    def med(name: str, i: int) -> float:
        return statistics.median(r[i] if r[i] is not None else float("inf") for r in results[name])

    print()
    for name in results:
        reached = sum(r[0] is not None for r in results[name])
        print(f"median {name:<5} steps {med(name, 0):>10.0f}   wall {med(name, 1):6.2f} s   reached {reached}/{len(args.seeds)}")
    print(f"ratio ours/sb3 (median wall s): {med('ours', 1) / med('sb3', 1):.3f}")
    print(f"ratio ours/sb3 (median steps):  {med('ours', 0) / med('sb3', 0):.3f}")


if __name__ == "__main__":
    main()
