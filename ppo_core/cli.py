"""``python -m ppo_core train``: the app's trainer, headless.

    python -m ppo_core train --preset cartpole --seed 1 --json
    python -m ppo_core train --preset pendulum --total-steps 50000 --set learning_rate=1e-3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .config import PPOConfig, settings
from .presets import PRESETS
from .trainer import PPOTrainer, TrainingDiverged


def _parse_override(text: str, cls: type = PPOConfig) -> tuple[str, object]:
    """'field=value' -> (field, typed value), parsed and checked by the field's declared Setting."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected FIELD=VALUE")
    name, raw = text.split("=", 1)
    declared = settings(cls)
    if name not in declared:
        raise ValueError(f"{name}: not a PPOConfig field (one of {', '.join(declared)})")
    return name, declared[name].parse(raw)


def settings_help() -> str:
    """Every field --set takes, with its allowed values and default (the parser's epilog)."""
    lines = ["fields for --set FIELD=VALUE:"]
    for name, s in settings(PPOConfig).items():
        lines.append(f"  {name:<18} {s.help}; {s.allowed()} (default {s.default!r})")
    return "\n".join(lines)


def _fmt(x, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def progress_line(rec: dict, total: int) -> str:
    return (
        f"step {rec['global_step']:>8,}/{total:,}  {rec['wall_s']:6.1f}s  "
        f"return(20) {_fmt(rec['episode_return_mean'], '8.2f')}  "
        f"policy {_fmt(rec.get('policy_loss'), '+.4f')}  value {_fmt(rec.get('value_loss'), '.4f')}  "
        f"entropy {_fmt(rec.get('entropy'), '.3f')}  kl {_fmt(rec.get('approx_kl'), '.4f')}  "
        f"clip {_fmt(rec.get('clip_fraction'), '.3f')}  ev {_fmt(rec['explained_variance'], '+.2f')}  "
        f"{_fmt(rec['sps'], '.0f')} sps"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ppo_core", description="Train a PPO preset without the app.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a preset and print one record per update",
                           epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--preset", default="cartpole", help=f"one of: {', '.join(PRESETS)}")
    train.add_argument("--seed", type=int, default=None, help="seed (default: the preset's)")
    train.add_argument("--total-steps", type=int, default=None, help="environment steps (default: the preset's budget)")
    train.add_argument("--json", action="store_true", help="one JSON object per update instead of a progress line")
    train.add_argument("--stop-at-target", action="store_true", help="stop once the mean of the last 20 returns reaches the preset's target")
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override any PPOConfig field")
    args = parser.parse_args(argv)

    if args.preset not in PRESETS:
        parser.error(f"--preset: unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[args.preset]
    try:
        changes: dict = dict(_parse_override(s, type(cfg)) for s in args.set)
        if args.seed is not None:
            changes["seed"] = args.seed
        if args.total_steps is not None:
            changes["total_steps"] = args.total_steps
        if args.stop_at_target:
            changes["stop_at_target"] = True
        cfg = dataclasses.replace(cfg, **changes)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))

    trainer = PPOTrainer(cfg)
    try:
        for rec in trainer.iterate():
            if args.json:
                print(json.dumps(rec), flush=True)
            else:
                print(progress_line(rec, cfg.total_steps), flush=True)
    except TrainingDiverged as exc:
        print(f"training stopped: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    finally:
        trainer.close()
    if not args.json:
        target = cfg.target_return
        verdict = "" if target is None else (" — target reached" if trainer.reached_target else f" — target {target:g} not reached")
        print(f"done: {trainer.global_step:,} steps in {trainer.wall_s:.1f}s{verdict}")
    return 0
