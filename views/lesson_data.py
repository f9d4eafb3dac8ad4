"""Cached lesson data shared by the pages: a rollout is computed once per setting and server,
and pages that show the same setting (rewards-to-go, advantages) show the same rows."""

from __future__ import annotations

import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS
from ppo_core.lesson import lesson_rollout, lesson_trainer, skip_to_time_limit


def env_title(preset: str) -> str:
    return ENVIRONMENTS[PRESETS[preset].env_id].title


@st.cache_resource(show_spinner="Training the critic briefly and collecting a rollout…", max_entries=64)
def critic_rollout(preset: str, seed: int, warmup_updates: int, num_steps: int, time_limit_row: int | None = None):
    """One environment, ``warmup_updates`` PPO updates, then ``num_steps`` recorded steps
    (``time_limit_row``: skip ahead so a time limit falls on that row). Read-only: shared."""
    trainer = lesson_trainer(preset, seed=seed, warmup_updates=warmup_updates, num_envs=1)
    skip = 0 if time_limit_row is None else skip_to_time_limit(trainer, time_limit_row)
    rollout = lesson_rollout(trainer, num_steps, skip=skip)
    trainer.close()
    return rollout
