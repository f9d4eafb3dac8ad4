"""Every preset learns: trained headless to its target within its step budget (seed 1).

Slow (the five take a few minutes together); CI runs them too.
"""

import pytest

from ppo_core import PRESETS, PPOTrainer


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_reaches_its_target_within_its_budget(name):
    cfg = PRESETS[name].replace(stop_at_target=True)
    trainer = PPOTrainer(cfg)
    for _ in trainer.iterate():
        pass
    trainer.close()
    assert trainer.reached_target, (
        f"{name}: mean of the last 20 returns {trainer.episode_return_mean} after {trainer.global_step} steps; "
        f"target {cfg.target_return}"
    )
    assert trainer.global_step <= cfg.total_steps
