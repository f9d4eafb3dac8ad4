"""Cached lesson data shared by the pages: a rollout is computed once per setting and server,
and pages that show the same setting (rewards-to-go, advantages) show the same rows."""

from __future__ import annotations

import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS
from ppo_core.lesson import lesson_table_rollout

TABLE_ROWS = 24  # rows in the rewards-to-go and advantages tables
TABLE_WARMUP = 5  # ordinary PPO updates before the table's rollout, so the critic's V is not ~0
# How each environment's table is placed so that it shows its ways of closing a row's tail.
# CartPole: a time limit of 16 steps instead of 500 (untrained poles fall long before 500), and
# the rows start at the first stretch showing a termination, a time-limit cut and the batch end.
# Pendulum never terminates: its 200-step time limit is placed after row 15.
TABLE_TIME_LIMIT = {"cartpole": 16}
TABLE_TIME_LIMIT_ROW = {"pendulum-discrete": 15}


def env_title(preset: str) -> str:
    return ENVIRONMENTS[PRESETS[preset].env_id].title


@st.cache_resource(show_spinner="Training the critic briefly and collecting a rollout…", max_entries=64)
def table_rollout(preset: str, seed: int, warmup_updates: int = TABLE_WARMUP):
    """The rollout of the rewards-to-go and advantages tables (the same rows on both pages),
    computed once per setting and server by :func:`ppo_core.lesson.lesson_table_rollout`.
    Read-only: shared between sessions."""
    return lesson_table_rollout(
        preset, seed, warmup_updates, TABLE_ROWS, TABLE_TIME_LIMIT.get(preset), TABLE_TIME_LIMIT_ROW.get(preset)
    )
