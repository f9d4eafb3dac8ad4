"""The training page's live view: the run's state, its numbers and curves, redrawn every second.

The run is a live one (runs.manager.TrainingRun) or one read back from the store (StoredRun):
both have the same attributes, so both are drawn here the one way. A fragment with a timer
while a run is active: each tick polls the session's runs (the heartbeat), reruns the whole page
when a run changes state (so the buttons follow), and draws the state, the metrics, the return
and diagnostics curves, the latest batch on the clipped objective and the downloads.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ppo_core import PRESETS, PPOConfig
from ppo_core.diagnostics import collapse_warning
from runs.manager import DIVERGED, FAILED, FINISHED, INTERRUPTED, PAUSED, QUEUED, RUNNING, STOPPED, TrainingRun, get_scheduler
from ui.charts import batch_clip_charts, diagnostics_chart, return_curves_chart
from ui.compare import comparison_reading, variant_name
from ui.report import diagnostics_frame, metrics_frame
from views import exports
from views.run_controls import current, group, runs
from views.widgets import show_chart

REDRAW_EVERY_S = 1.0


def state_text(run: TrainingRun, position: int | None) -> str:
    """The State metric: what the run does, or what it waits for."""
    waiting = run.waiting_for  # 'start', 'resume', 'step' or None
    if getattr(run, "waiting_for_cluster", False):
        return "waiting for a CPU in the cluster"
    if waiting in ("resume", "step"):
        return "waiting for a free core to " + ("resume" if waiting == "resume" else "take one update")
    return {
        QUEUED: f"waiting for a free core (position {position} in the queue)",
        RUNNING: "training", PAUSED: "paused", FINISHED: "finished", STOPPED: "stopped",
        DIVERGED: "stopped itself", FAILED: "failed", INTERRUPTED: run.message or "interrupted",
    }[run.state]


def outcome(run: TrainingRun) -> None:
    """How the run ended (or that its learning collapsed), as an error, warning or success."""
    if run.state == DIVERGED:
        st.error(f"The run diverged and stopped itself: {run.message}")
    elif run.state == FAILED:
        n = len(run.records)
        kept = f"The {n:,} update{'s' if n != 1 else ''} it sent are kept below" if n else "It had sent no update yet"
        st.error(f"The run failed: {run.message}. {kept}; **Start** begins a new run.")
    elif run.state == INTERRUPTED:
        n = len(run.records)
        why = run.message or "interrupted"
        if why.startswith("interrupted at step"):  # (runs.store.mark_interrupted)
            why += ": the server stopped while it trained"
        st.warning(f"The run was {why}. The {n:,} update{'s' if n != 1 else ''} that reached the store are kept below; "
                   "**Start** begins a new run.")
    elif run.state == STOPPED and run.message:  # stopped by the server, not by the Stop button
        st.warning(f"The run {run.message}.")
    elif run.state == FINISHED:
        (st.success if run.reached_target else st.warning)(
            f"Finished: {'target reached' if run.reached_target else 'the step budget ran out before the target'}."
        )
    collapsed = collapse_warning(run.records)  # finite losses, but no learning left
    if collapsed:
        st.warning(collapsed, icon=":material/trending_down:")


def queue_note(run: TrainingRun, position: int) -> None:
    sched = get_scheduler()
    busy, cores = len(sched.training()), sched.max_running
    goes_on = {"start": "starts", "resume": "resumes", "step": "takes its update"}[run.waiting_for]
    why = (f"Position {position} in the queue; {busy} run{' is' if busy == 1 else 's are'} training on this "
           f"server's {cores} cores. A paused run leaves its core free: this one {goes_on} when a core frees "
           "(a run pauses, stops or finishes) and the runs ahead of it in the queue have theirs.")
    if sched.room_wanted and run.waiting_for == "start":
        why += (f" The server also keeps at most {sched.max_paused} paused runs, each with its own process: "
                "the one paused longest is being stopped to make room.")
    st.caption(why)


def comparison(run: TrainingRun, target: float) -> None:
    """The comparison's one-line reading and the other runs' states."""
    sched = get_scheduler()
    kind = st.session_state["train_compare_kinds"][run.group]
    members = group(run)
    cfgs = [PPOConfig.from_dict(r.config) for r in members]
    st.markdown(comparison_reading([variant_name(c, kind) for c in cfgs], [r.records for r in members], target, [c.total_steps for c in cfgs]))
    st.caption("The metrics above are the first run's; " + ", ".join(
        f"{r.label}: {r.state}" + (f" (queue {sched.queue_position(r)})" if r.waiting_for else "") for r in members[1:]
    ) + ".")


def curves(run: TrainingRun, target: float) -> None:
    """Every run of this session on the run's environment, and the run's diagnostics."""
    same_env = [r for r in runs() if r.config["env_id"] == run.config["env_id"] and r.records]
    if not same_env:
        return
    frames = {r.id: metrics_frame(r.records, r.label) for r in same_env}  # once per redraw
    show_chart(return_curves_chart(pd.concat(frames.values(), ignore_index=True), target))
    st.caption(
        "Each line is one run of this session on this environment; the dashed line is the "
        "preset's target. Start a second run with one setting changed (say, no clipping, "
        "same seed) and compare the curves."
    )
    if run.id in frames:
        show_chart(diagnostics_chart(diagnostics_frame(frames[run.id])))
        st.caption(
            "The numbers CleanRL and Stable-Baselines3 log. Watch approx KL and the clip fraction: "
            "they rise when an update moves the policy far, and the clip keeps them in check. "
            "Explained variance near 1 means the critic predicts the returns well."
        )


def latest_batch(run: TrainingRun, last: dict) -> None:
    if not last.get("batch_ratio"):
        return
    st.subheader("The latest batch on the clipped objective")
    charts = batch_clip_charts(last["batch_ratio"], last["batch_advantage"], run.config["clip_coef"])
    for col, sign in zip(st.columns(2), (1.0, -1.0)):
        with col:
            show_chart(charts[sign])
    st.caption(
        "Each dot is a sample of the latest batch after its update, at its ratio r, on the "
        "objective per unit |Â|. Dots in the orange band no longer pass a gradient. With "
        "'no clipping' the dots spread further from r = 1."
    )


def _live() -> None:
    run = current()
    if run is None:
        st.info("Choose a preset and press **Start** (or **Step one update** to go one update at a time).")
        return
    members = group(run)
    before = [r.state for r in members]
    for r in members:
        r.poll()
    if any(r.state != b for r, b in zip(members, before)):
        st.rerun()  # a run started, got its core, or ended: redraw the whole page so the buttons follow
    target = PRESETS[run.preset].target_return
    last = run.records[-1] if run.records else {}
    position = get_scheduler().queue_position(run) if run.waiting_for else None
    outcome(run)
    m = st.columns(4)
    ret = last.get("episode_return_mean")
    m[0].metric("Mean return, last 20 episodes", "—" if ret is None else f"{ret:.1f}", help=f"target {target:g}")
    m[1].metric("Steps done", f"{last.get('global_step', 0):,}")
    m[2].metric("Steps per second", "—" if not last.get("sps") else f"{last['sps']:,.0f}")
    m[3].metric("State", state_text(run, position))
    if position is not None:
        queue_note(run, position)
    budget = run.config["total_steps"]
    st.progress(min(last.get("global_step", 0) / budget, 1.0), text=f"{last.get('global_step', 0):,} of {budget:,} steps")
    if len(members) > 1:
        comparison(run, target)
    curves(run, target)
    latest_batch(run, last)
    exports.downloads(run, members)


def show(active: bool) -> None:
    """The live view, on a timer while a run of the current group is active."""
    st.fragment(_live, run_every=REDRAW_EVERY_S if active else None)()
