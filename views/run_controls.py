"""The training page's runs in this session, and the buttons that start and steer them.

The buttons' callbacks run before the script, so the buttons drawn after them are current.
A comparison's runs share a group: every button acts on all of them.
"""

from __future__ import annotations

import time

import streamlit as st

from ppo_core import PRESETS, PPOConfig
from runs.manager import PAUSED, QUEUED, RUNNING, TrainingRun, get_scheduler
from ui.compare import COMPARISONS, comparison_configs
from views import session, training_controls

FIRST_RECORD_WAIT_S = 1.0


def runs() -> list[TrainingRun]:
    return st.session_state.setdefault("train_runs", [])


def current() -> TrainingRun | None:
    return next((r for r in runs() if r.id == st.session_state.get("train_current")), None)


def group(run: TrainingRun | None) -> list[TrainingRun]:
    """The current run and, for a comparison, the runs started with it (the buttons act on all)."""
    if run is None:
        return []
    return [r for r in runs() if r.group == run.group] if run.group else [run]


def label(cfg: PPOConfig, preset: str) -> str:
    diffs = training_controls.changed_settings(cfg, preset)
    return f"#{len(runs()) + 1} {preset} seed {cfg.seed}" + (f" ({', '.join(diffs)})" if diffs else " (preset)")


# -- the callbacks --------------------------------------------------------------------------------
def new_run(cfg: PPOConfig, preset: str, paused: bool = False, group: str | None = None) -> TrainingRun:
    cfg = cfg.replace(stop_at_target=st.session_state.get("train_stop_at_target", True))
    # The run ends with this browser session (views.session tells the run manager's watchdog).
    run = TrainingRun(cfg.to_dict(), label=label(cfg, preset), start_paused=paused, session_id=session.session_id(), group=group)
    run.preset = preset
    runs().append(run)
    get_scheduler().submit(run)
    return run


def on_start(cfg: PPOConfig, preset: str, paused: bool = False) -> None:
    run = new_run(cfg, preset, paused)
    st.session_state["train_current"] = run.id
    # A warm worker sends its first update within a few tenths of a second: wait for it here so
    # this rerun draws the first point, rather than the live timer's first tick a second later.
    deadline = time.monotonic() + FIRST_RECORD_WAIT_S
    while run.state == RUNNING and not run.records and time.monotonic() < deadline:
        time.sleep(0.02)
        run.poll()


def on_compare(configs: list[PPOConfig], preset: str, kind: str) -> None:
    group_id = f"cmp{len(runs()) + 1}"
    st.session_state.setdefault("train_compare_kinds", {})[group_id] = kind  # how its runs are named
    first = [new_run(c, preset, group=group_id) for c in configs][0]
    st.session_state["train_current"] = first.id


def on_command(command: str) -> None:
    for r in group(current()):
        if r.active:
            r.send(command)


def on_step(cfg: PPOConfig | None, preset: str) -> None:
    paused = [r for r in group(current()) if r.state == PAUSED]
    if paused:
        for r in paused:  # a comparison steps in lockstep
            r.send("step")
    elif cfg is not None:
        on_start(cfg, preset, paused=True)
        current().send("step")


def on_stop() -> None:
    for r in group(current()):
        if r.active:
            r.stop()


def on_reset(preset: str) -> None:
    gone = group(current())
    for r in gone:
        r.stop()
    if gone:
        st.session_state["train_runs"] = [r for r in runs() if r not in gone]
    st.session_state.pop("train_current", None)
    st.session_state.pop("train_animation", None)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"train_{preset}_")]:
        del st.session_state[key]


# -- the widgets ----------------------------------------------------------------------------------
def compare_panel(cfg: PPOConfig | None, preset: str, error: str | None):
    """The comparison's choice and its reading; returns (configs or None, kind, the column for
    its button), the button being drawn with the others once the runs' states are known."""
    with st.expander("Compare: the same preset and seed with one thing changed", expanded=False):
        k1, k2, k3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        kind = k1.selectbox("Compare", list(COMPARISONS), format_func=COMPARISONS.get, key="train_compare_kind")
        second_lr = None
        if kind == "two_learning_rates":
            base_lr = cfg.learning_rate if cfg is not None else PRESETS[preset].learning_rate
            second_lr = k2.number_input("Second learning rate", 1e-6, 1.0, min(base_lr * 3, 1.0), 1e-4, format="%.5f", key="train_compare_lr")
        configs, compare_error = None, error
        if cfg is not None:
            try:
                configs = comparison_configs(cfg, kind, second_lr)
            except ValueError as exc:
                compare_error = str(exc)
        st.caption(
            "Starts one run per variant with every other setting as above (seed included), so the "
            "curves part only where the change matters. The runs share the server's cores with the "
            "class: a third run may wait in the queue."
        )
        if compare_error and cfg is not None:
            st.error(f"Can't compare — {compare_error}")
    return configs, kind, k3


def buttons(cfg: PPOConfig | None, preset: str, compare: tuple) -> bool:
    """Start comparison, Start, Pause, Step, Resume, Stop and Reset, each enabled only where it
    acts; returns whether a run of the current group is active (the live view's timer runs)."""
    compare_configs, kind, compare_column = compare
    run = current()
    runs_now = group(run)
    active = any(r.active for r in runs_now)
    paused_now = [r for r in runs_now if r.state == PAUSED]
    compare_column.button(
        "Start comparison", disabled=compare_configs is None or active, on_click=on_compare, args=(compare_configs, preset, kind),
        key="train_compare", width="stretch",
    )
    b = st.columns(6)
    b[0].button("Start", type="primary", disabled=cfg is None or active, on_click=on_start, args=(cfg, preset), key="train_start", width="stretch")
    b[1].button("Pause", disabled=not any(r.state == RUNNING for r in runs_now), on_click=on_command, args=("pause",), key="train_pause", width="stretch")
    b[2].button("Step one update", disabled=any(r.state in (RUNNING, QUEUED) for r in runs_now) or (not paused_now and cfg is None), on_click=on_step, args=(cfg, preset), key="train_step", width="stretch")
    b[3].button("Resume", disabled=not paused_now, on_click=on_command, args=("resume",), key="train_resume", width="stretch")
    b[4].button("Stop", disabled=not active, on_click=on_stop, key="train_stop", width="stretch")
    b[5].button("Reset", disabled=run is None, on_click=on_reset, args=(preset,), key="train_reset", width="stretch")
    return active
