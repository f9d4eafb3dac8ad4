"""The lesson pages' tables as ``st.dataframe`` shows them.

ppo_core computes every number (``ppo_core.lesson``: rollouts, rewards-to-go, advantages, in
its own column names); this module only arranges them for a page: the columns named by the
symbols of the formulas beside the table, numbers to three places, words for codes, and the rows
a step-through has not reached yet left empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

# ppo_core.lesson's column names -> the symbols the pages' formulas use.
SYMBOLS = {
    "reward": "r_t",
    "value": "V(s_t)",
    "rewards_to_go": "R̂_t",
    "rtg_minus_value": "R̂_t − V(s_t)",
    "td_error": "δ_t",
}
# What stands in for the rest of the episode after a row (rewards_to_go_table's "bootstrap" codes).
BOOTSTRAP_LABELS = {
    "terminated": "nothing (terminated)",
    "truncated": "V(final obs) (time limit)",
    "batch_end": "V(s_T) (batch ends)",
    "next_row": "R̂ of the next row",
}


def number_formats(frame: pd.DataFrame, columns=None) -> dict:
    """``column_config`` showing the float columns of ``frame`` (or just ``columns``) to three places."""
    names = frame.columns if columns is None else columns
    return {name: st.column_config.NumberColumn(format="%.3f") for name in names if frame[name].dtype.kind == "f"}


def transcript(rollout, env_index: int = 0) -> pd.DataFrame:
    """Page 1's table, one row per step t of environment ``env_index`` of a ppo_core Rollout:
    ``t``, ``s_t[i]`` for each component of the observation, ``a_t`` (or ``a_t[j]`` for each
    component of a continuous action), ``log π(a_t|s_t)``, ``π(a_t|s_t)`` (a probability, or a
    Gaussian policy's density), ``r_t``, ``terminated``, ``truncated``."""
    obs = rollout.obs[:, env_index].numpy().astype(np.float64)
    actions = rollout.actions[:, env_index].numpy()
    log_probs = rollout.log_probs[:, env_index].numpy().astype(np.float64)
    columns = {"t": np.arange(obs.shape[0])}
    columns.update({f"s_t[{i}]": obs[:, i] for i in range(obs.shape[1])})
    if actions.ndim == 1:
        columns["a_t"] = actions
    else:
        columns.update({f"a_t[{j}]": actions[:, j].astype(np.float64) for j in range(actions.shape[1])})
    columns["log π(a_t|s_t)"] = log_probs
    columns["π(a_t|s_t)"] = np.exp(log_probs)
    columns["r_t"] = rollout.rewards[:, env_index]
    columns["terminated"] = rollout.terminated[:, env_index]
    columns["truncated"] = rollout.truncated[:, env_index]
    return pd.DataFrame(columns)


def backward_pass(table: dict, computed: int) -> pd.DataFrame:
    """:func:`ppo_core.lesson.rewards_to_go_table` as the backward pass has filled it after
    ``computed`` rows, counted from the end: the rows above keep their rewards and bootstrap
    cases, but their ``rewards_to_go`` and ``next_value`` are NaN (empty cells). The recursion
    runs from t = T−1 down and row t reads only rows after it, so a filled row already holds its
    final value."""
    frame = pd.DataFrame(table)
    filled = int(np.clip(computed, 0, len(frame)))
    frame.loc[frame.index[: len(frame) - filled], ["rewards_to_go", "next_value"]] = np.nan
    return frame


def rewards_to_go_view(frame: pd.DataFrame, current: int) -> tuple[pd.DataFrame, dict]:
    """Page 2's table from :func:`backward_pass`'s frame, with a "pass" column marking row
    ``current`` (the one the backward pass filled last), and its ``column_config``."""
    shown = frame.assign(bootstrap=frame["bootstrap"].map(BOOTSTRAP_LABELS)).rename(
        columns={**SYMBOLS, "bootstrap": "after this step", "bootstrap_value": "bootstrap value", "next_value": "γ multiplies"}
    )
    shown.insert(1, "pass", np.where(shown["t"] == current, "◀ now", ""))
    return shown, number_formats(shown, ["r_t", "bootstrap value", "γ multiplies", "R̂_t"])


def advantages_view(table: dict, lam: float, normalize: bool) -> tuple[pd.DataFrame, dict]:
    """Page 3's table from :func:`ppo_core.lesson.advantage_table` (normalised columns only when
    ``normalize``), and its ``column_config``."""
    frame = pd.DataFrame(table)
    columns = {name: SYMBOLS.get(name, name) for name in ("t", "reward", "terminated", "truncated", "value", "rewards_to_go", "rtg_minus_value", "td_error")}
    columns["gae"] = f"GAE A_t (λ={lam:.2f})"
    if normalize:
        columns.update({"normalized": "normalised A_t", "sign_flipped": "sign flipped"})
    shown = frame[list(columns)].rename(columns=columns)
    config = number_formats(shown)
    if normalize:
        # A column, not a pandas Styler, marks the flipped rows: the Styler costs more than the rest of the page.
        config["sign flipped"] = st.column_config.CheckboxColumn("⚠ sign flipped", help="normalisation changed the sign of this row's advantage")
    return shown, config


def episode_marks(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """For ui.charts.step_chart over a table with ``t``, ``terminated`` and ``truncated``: each
    row's episode number within the table (its ``segment``, so a line breaks where an episode
    ended), and the ``events`` frame that marks each end and how it came."""
    ends = (frame["terminated"] | frame["truncated"]).to_numpy()
    episode = np.concatenate([[0], np.cumsum(ends)[:-1]])
    events = pd.DataFrame({"x": frame["t"][ends], "event": np.where(frame["terminated"][ends], "terminated", "truncated (time limit)")})
    return episode, events


def show_table(frame: pd.DataFrame, *, key: str, column_config: dict | None = None, **options) -> None:
    """A lesson table: ``st.dataframe`` (sortable, scrollable), or in presenter mode ``st.table``,
    whose HTML cells take the presenter style's large type (the data grid draws on a canvas that
    no style reaches). Floats are shown to three places either way; NaN cells stay empty."""
    from views.links import presenter_mode

    if not presenter_mode():
        st.dataframe(frame, hide_index=True, column_config=column_config or number_formats(frame), key=key, **options)
        return
    shown = frame.copy()
    for name in shown.columns:
        if shown[name].dtype.kind == "f":
            shown[name] = ["" if np.isnan(v) else f"{v:.3f}" for v in shown[name]]
    # column_config's labels rename a column in the grid; the HTML table takes them as names
    labels = {name: cfg["label"] for name, cfg in (column_config or {}).items() if isinstance(cfg, dict) and cfg.get("label")}
    st.table(shown.rename(columns=labels), hide_index=True)
