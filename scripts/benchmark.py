"""Benchmark: our presets against Stable-Baselines3's PPO with the RL Zoo's tuned hyperparameters,
on the four environments both have, alternating, one torch thread each, in one process.

For each environment and seed it prints the env steps and wall seconds until the mean return of
the last 20 finished episodes first reaches the preset's target (model and environment
construction included for both; the libraries' one-time imports are done before any timing),
then per environment the medians and the ratios ours / zoo of the median steps and seconds.

    python scripts/benchmark.py --seeds 1 2 3 4 5                      # cartpole only
    python scripts/benchmark.py --envs cartpole acrobot pendulum mountaincar-continuous --seeds 6 7 8 9 10

A run that does not reach the target within the budget counts as infinitely slow in the medians.
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

WINDOW = 20  # the trainer's RETURN_WINDOW: the same test on both sides

# rl-baselines3-zoo, hyperparams/ppo.yml: the entries marked "Tuned" (Acrobot's is the zoo's
# default entry). "lin_" values are linear schedules from the value down to 0; n_timesteps is
# the zoo's training budget, kept here as SB3's step budget.
ZOO = {
    "CartPole-v1": dict(
        n_envs=8, n_timesteps=100_000, normalize=False,
        kwargs=dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                    learning_rate="lin_1e-3", clip_range="lin_0.2"),
    ),
    "Acrobot-v1": dict(
        n_envs=16, n_timesteps=1_000_000, normalize=True,
        kwargs=dict(n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0),
    ),
    "Pendulum-v1": dict(
        n_envs=4, n_timesteps=100_000, normalize=False,
        kwargs=dict(n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, learning_rate=1e-3,
                    clip_range=0.2, use_sde=True, sde_sample_freq=4),
    ),
    "MountainCarContinuous-v0": dict(
        n_envs=1, n_timesteps=20_000, normalize=True,
        kwargs=dict(batch_size=256, n_steps=8, gamma=0.9999, learning_rate=7.77e-05, ent_coef=0.00429, clip_range=0.1,
                    n_epochs=10, gae_lambda=0.9, max_grad_norm=5, vf_coef=0.19, use_sde=True,
                    policy_kwargs=dict(log_std_init=-3.29, ortho_init=False)),
    ),
}


def run_ours(preset: str, seed: int, budget: int | None) -> tuple[int | None, float]:
    from ppo_core import PRESETS, PPOTrainer

    t0 = time.perf_counter()
    cfg = PRESETS[preset].replace(seed=seed, stop_at_target=True)
    trainer = PPOTrainer(cfg.replace(total_steps=budget) if budget else cfg)
    for _ in trainer.iterate():
        pass
    elapsed = time.perf_counter() - t0
    trainer.close()
    return (trainer.global_step if trainer.reached_target else None), elapsed


def run_zoo(env_id: str, target: float, seed: int, budget: int | None) -> tuple[int | None, float]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    class StopAtTarget(BaseCallback):
        reached: int | None = None

        def _on_step(self) -> bool:
            # ep_info_buffer holds the Monitor's returns: raw rewards, before any VecNormalize.
            buf = self.model.ep_info_buffer
            if len(buf) >= WINDOW and np.mean([e["r"] for e in list(buf)[-WINDOW:]]) >= target:
                self.reached = self.num_timesteps
                return False
            return True

    def schedule(value):
        if isinstance(value, str) and value.startswith("lin_"):
            start = float(value[4:])
            return lambda progress_remaining: progress_remaining * start
        return value

    zoo = ZOO[env_id]
    t0 = time.perf_counter()
    env = make_vec_env(env_id, n_envs=zoo["n_envs"], seed=seed)
    if zoo["normalize"]:
        env = VecNormalize(env, gamma=zoo["kwargs"]["gamma"])
    kwargs = {k: schedule(v) for k, v in zoo["kwargs"].items()}
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    cb = StopAtTarget()
    model.learn(total_timesteps=budget or zoo["n_timesteps"], callback=cb)
    elapsed = time.perf_counter() - t0
    env.close()
    return cb.reached, elapsed


def main() -> None:
    from ppo_core import PRESETS

    shared = [name for name, cfg in PRESETS.items() if cfg.env_id in ZOO]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["cartpole"], choices=shared, help="presets to run (default: cartpole)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=None,
                        help="step budget for both sides (default: our preset's total_steps, the zoo's n_timesteps)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # One-time costs are not training: the process's first torch optimiser imports torch._dynamo
    # (seconds on these machines), which whichever library ran first would otherwise pay alone.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    import stable_baselines3  # noqa: F401

    summary = []
    for preset in args.envs:
        env_id, target = PRESETS[preset].env_id, PRESETS[preset].target_return
        print(f"\n{preset} ({env_id}), target {target:g}")
        print(f"{'run':<6}{'seed':>5}{'steps':>12}{'wall s':>9}")
        results: dict[str, list[tuple[int | None, float]]] = {"ours": [], "zoo": []}
        for seed in args.seeds:  # alternate so that machine noise hits both alike
            for name, fn in (("ours", lambda s: run_ours(preset, s, args.budget)),
                             ("zoo", lambda s: run_zoo(env_id, target, s, args.budget))):
                steps, wall = fn(seed)
                results[name].append((steps, wall))
                print(f"{name:<6}{seed:>5}{steps if steps else 'not reached':>12}{wall:>9.2f}", flush=True)

        def med(name: str, i: int) -> float:
            # A run that never reached the target took "forever", in steps and in seconds.
            return statistics.median(r[i] if r[0] is not None else float("inf") for r in results[name])

        for name in results:
            reached = sum(r[0] is not None for r in results[name])
            print(f"median {name:<5} steps {med(name, 0):>10.0f}   wall {med(name, 1):7.2f} s   reached {reached}/{len(args.seeds)}")
        ratios = med("ours", 0) / med("zoo", 0), med("ours", 1) / med("zoo", 1)
        print(f"ratio ours/zoo: steps {ratios[0]:.3f}   wall {ratios[1]:.3f}")
        summary.append((preset, med("ours", 0), med("zoo", 0), med("ours", 1), med("zoo", 1), *ratios))

    print(f"\nseeds {' '.join(map(str, args.seeds))}")
    print(f"{'preset':<24}{'steps ours':>11}{'zoo':>9}{'wall ours':>11}{'zoo':>9}{'steps ×':>9}{'wall ×':>8}")
    for preset, s_ours, s_zoo, w_ours, w_zoo, r_steps, r_wall in summary:
        print(f"{preset:<24}{s_ours:>11.0f}{s_zoo:>9.0f}{w_ours:>11.2f}{w_zoo:>9.2f}{r_steps:>9.3f}{r_wall:>8.3f}")


if __name__ == "__main__":
    main()
