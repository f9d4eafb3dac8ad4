"""The training page's live view: the run's state, its numbers and curves, redrawn every second.

The run is a live one (runs.manager.TrainingRun) or one read back from the store (StoredRun):
both have the same attributes, so both are drawn here the one way. A fragment with a timer
while a run is active: each tick polls the session's runs (the heartbeat), reruns the whole page
when a run changes state (so the buttons follow), and draws the state, the metrics, the return
curves, the diagnostics, the latest batch on the objective each run trains and the downloads;
a comparison's runs are on every chart, each in its colour, named by what differs. A seed
spread's return chart is its median and min–max band per variant (ui.spread), its other charts
the first seed's of each variant.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ppo_core import PRESETS, PPOConfig
from ppo_core.diagnostics import collapse_warning
from runs.manager import DIVERGED, FAILED, FINISHED, INTERRUPTED, PAUSED, QUEUED, RUNNING, STOPPED, TrainingRun, get_scheduler
from ui.charts import batch_objective_charts, diagnostic_panel_chart, return_curves_chart, seed_spread_chart
from ui.compare import comparison_reading, variant_labels
from ui.report import diagnostics_frame, metrics_frame, update_beta
from ui.spread import SpreadPlan, seed_spread, spread_reading
from views import exports
from views.run_controls import PACE_KEY, buttons_are_stale, current, feed_spread, group, on_pace, runs, spread_of
from views.widgets import show_chart

REDRAW_EVERY_S = 1.0
# The pace menu: seconds the worker waits between updates (runs.manager.TrainingRun.set_pace).
PACES = {0.0: "full speed", 0.25: "an update every 0.25 s", 0.5: "an update every 0.5 s", 1.0: "an update every 1 s", 2.0: "an update every 2 s"}


def pace_control(where=None) -> None:
    """The pace of this session's runs: a new run starts at it; the current runs take it at once."""
    (where or st).selectbox(
        "Pace", list(PACES), format_func=PACES.get, key=PACE_KEY, on_change=on_pace,
        help="Slow the run down to talk the class through each update: Pause and Step then land on the "
             "update everyone is looking at. The run's numbers are the same at any pace (same seed, same curve); "
             "only the wait between updates changes.",
    )


def state_text(run: TrainingRun, position: int | None) -> str:
    """The State metric: what the run does, or what it waits for."""
    waiting = run.waiting_for  # 'start', 'resume', 'step' or None
    if run.waiting_for_cluster:
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


def comparison(run: TrainingRun, target: float, names: dict[str, str]) -> None:
    """The comparison's one-line reading and the other runs' states."""
    sched = get_scheduler()
    members = group(run)
    cfgs = [PPOConfig.from_dict(r.config) for r in members]
    st.markdown(comparison_reading([names[r.id] for r in members], [r.records for r in members], target, [c.total_steps for c in cfgs]))
    st.caption("The metrics above are the first run's; " + ", ".join(
        f"{r.label}: {r.state}" + (f" (queue {sched.queue_position(r)})" if r.waiting_for else "") for r in members[1:]
    ) + ".")


def chart_names(run: TrainingRun, same_env: list) -> dict[str, str]:
    """Each run's name on the charts, by id: a comparison's runs by what differs between them
    ("clipped, ε = 0.2", "no clipping"), a spread's by their variant and seed ("no clipping ·
    seed 3"; "seed 3" for a spread of one variant), every other run of the session by its label."""
    names = {r.id: r.label for r in same_env}
    members = group(run)
    plan = spread_of(run)
    if plan is not None:
        for r in members:
            variant = plan.names[plan.variant_of(r.id)] if len(plan.names) > 1 else ""
            names[r.id] = f"{variant} · seed {r.config['seed']}" if variant else f"seed {r.config['seed']}"
    elif len(members) > 1:
        labels = variant_labels([PPOConfig.from_dict(r.config) for r in members])
        names.update({r.id: name for r, name in zip(members, labels)})
    return names


DIAGNOSTICS_PER_ROW = 3
SPREAD_MIN_SEEDS = 2  # a median and band need two seeds: where one is ahead, only its own thin line goes on


def spread_curves(plan: SpreadPlan, members: list, target: float) -> None:
    """The spread's return chart: per variant the median over its seeds and the min–max band,
    each seed thin beneath, and a caption saying how many seeds the curve covers."""
    by_variant = [[r for r in members if plan.variant_of(r.id) == v] for v in range(len(plan.names))]
    tables, seed_rows = [], []
    for name, seeds in zip(plan.names, by_variant):
        # A seed that stopped at the target holds its last value (ui.spread.seed_spread).
        table = seed_spread([r.records for r in seeds], [r.state == FINISHED and r.reached_target for r in seeds], min_seeds=SPREAD_MIN_SEEDS)
        tables.append(table.assign(run=name))
        for r in seeds:
            frame = metrics_frame(r.records, name)
            if len(frame):
                seed_rows.append(frame[["global_step", "episode_return_mean", "run"]].assign(seed=r.config["seed"]))
    spread = pd.concat(tables, ignore_index=True)
    seeds_frame = pd.concat(seed_rows, ignore_index=True) if seed_rows else pd.DataFrame(columns=["global_step", "episode_return_mean", "run", "seed"])
    show_chart(seed_spread_chart(spread, seeds_frame, target, runs=plan.names))
    n = len(plan.seeds)
    covered = [int(t["seeds"].iloc[-1]) if len(t) else 0 for t in tables]
    at_end = ", ".join(f"{c} of {n}" + (f" for {name}" if len(plan.names) > 1 else "") for c, name in zip(covered, plan.names))
    st.caption(
        f"The thick line is the median of the {n} seeds' mean returns at each step ({plan.seeds[0]} to {plan.seeds[-1]}), "
        "the shaded band runs from the lowest seed to the highest, and each thin line is one seed. A seed counts "
        "at the steps it has reached (one still queued or training covers fewer), and one that stopped at the "
        f"target holds its last value after it; where a single seed is ahead of the rest, only its thin line goes on. "
        f"At the right end the band covers {at_end} seeds (the tooltip gives each point's count)."
    )


def spread_status(plan: SpreadPlan, members: list) -> None:
    """How many of the spread's runs have ended, train, wait; and why they go a few at a time."""
    total = len(plan.order)
    ended = sum(not r.active for r in members)
    training = sum(r.state == RUNNING for r in members)
    waiting = sum(r.active and r.state != RUNNING for r in members)
    sched = get_scheduler()
    st.progress(ended / total, text=f"{ended} of {total} runs of the spread ended")
    left = f", {plan.pending} not queued yet" if plan.pending else ""
    stopped = " (stopped: the rest are not started)" if plan.cancelled and len(plan.run_ids) < total else ""
    st.caption(
        f"{training} training, {waiting} queued or paused{left}{stopped}. The server trains {sched.max_running:g} runs "
        f"at a time for the whole class and each student may have {sched.max_runs_per_student} queued, running or paused: "
        "the next seed is queued as one ends."
    )


def curves(run: TrainingRun, target: float, same_env: list, names: dict[str, str]) -> dict:
    """The return curves of every run of this session on the run's environment, and returns the
    per-run metrics tables (by id) the other charts read."""
    frames = {r.id: metrics_frame(r.records, names[r.id]) for r in same_env}  # once per redraw
    order = [names[r.id] for r in same_env]
    show_chart(return_curves_chart(pd.concat(frames.values(), ignore_index=True), target, runs=order))
    st.caption(
        "Each line is one run of this session on this environment, in its colour; the dashed line "
        "is the preset's target. Compare (above) starts runs on the same seed with one setting "
        "changed, named in the legend by what differs."
    )
    return frames


def diagnostics(members: list, frames: dict, names: dict[str, str], order: list[str]) -> None:
    """One small chart per diagnostic, every run of the group on each, as a grid that wraps."""
    shown = [frames[r.id] for r in members if r.id in frames and len(frames[r.id])]
    if not shown:
        return
    long = diagnostics_frame(pd.concat(shown, ignore_index=True))
    for i, metric in enumerate(dict.fromkeys(long["metric"])):
        if i % DIAGNOSTICS_PER_ROW == 0:
            cols = st.columns(DIAGNOSTICS_PER_ROW)
        with cols[i % DIAGNOSTICS_PER_ROW]:
            show_chart(diagnostic_panel_chart(long, metric, runs=order))
    st.caption(
        "The numbers CleanRL and Stable-Baselines3 log" + (", each run in its colour of the legend above" if len(shown) > 1 else "")
        + ". Approx KL and the clip fraction (the share of ratios outside [1 − ε, 1 + ε]) rise when an "
        "update moves the policy far from the one that collected its batch. Explained variance near 1 "
        "means the critic predicts the returns well."
        + (" β is the KL penalty's weight after each update's adaptive rule." if any("kl_beta" in f for f in shown) else "")
        + (" σ is the Gaussian policy's standard deviation, averaged over the batch's states (with gSDE it "
           "depends on the state): how widely it still explores." if any("std" in f for f in shown) else "")
    )


# What the latest-batch plot is called, and what its dots mean, for each objective a run trains.
BATCH_TITLES = {"clip": "L^CLIP", "none": "the unclipped objective r·Â", "kl_penalty": "the KL-penalised objective"}
BATCH_CAPTIONS = {
    "clip": (
        "Each dot is a sample of the latest batch after its update, at its ratio r, on L^CLIP per unit "
        "|Â|. Dots in the shaded band, where the gradient is zero, pass no gradient any more: the "
        "clip stopped them from moving further from r = 1 the way their advantage pulls."
    ),
    "none": (
        "Each dot is a sample of the latest batch after its update, at its ratio r, on the unclipped "
        "r·Â per unit |Â|. Nothing is flat: every sample passes a gradient however far its ratio has "
        "moved, so after K epochs the dots spread further from r = 1."
    ),
    "kl_penalty": (
        "Each dot is a sample of the latest batch after its update, at its ratio r, on r·Â − β·KL per "
        "unit |Â| (β = {beta:.3g} in this update; KL = (r − 1) − log r for each sample). The solid "
        "curve is for |Â| = 1: a sample of smaller |Â| sits below it, its penalty weighing more per "
        "unit of advantage. No sample's gradient is zero; the penalty pulls every ratio back towards "
        "r = 1, and β doubles or halves after each update to keep the KL near d_targ = {kl_target:g}."
    ),
}


def batch_caption(objective: str, config: PPOConfig, beta: float | None, below_axis: int) -> str:
    """The caption true for a run's latest-batch plot."""
    text = BATCH_CAPTIONS[objective].format(beta=beta or 0.0, kl_target=config.kl_target)
    if below_axis:
        text += (f" {below_axis} dot{'s' if below_axis != 1 else ''} of very small |Â| "
                 f"{'lie' if below_axis != 1 else 'lies'} below the chart and {'are' if below_axis != 1 else 'is'} drawn on its lower edge.")
    return text


def latest_batches(members: list, names: dict[str, str]) -> None:
    """Each run's latest batch on the objective it trains: A > 0 and A < 0 side by side for one
    run; for a comparison one column per run."""
    shown = [r for r in members if r.records and r.records[-1].get("batch_ratio")]
    if not shown:
        return
    objectives = {r.config["objective"] for r in shown}
    title = BATCH_TITLES[next(iter(objectives))] if len(objectives) == 1 else "the objective each run trains"
    st.subheader(f"The latest batch on {title}")
    captions = {}
    columns = st.columns(len(shown)) if len(shown) > 1 else [st.container()]
    for run, column in zip(shown, columns):
        cfg, last = PPOConfig.from_dict(run.config), run.records[-1]
        beta = update_beta(last, cfg)
        charts = batch_objective_charts(last["batch_ratio"], last["batch_advantage"], cfg.objective, cfg.clip_coef, beta,
                                        height=BATCH_HEIGHT if len(shown) == 1 else BATCH_HEIGHT_COMPARED)
        below = sum(c["usermeta"]["below_axis"] for c in charts.values())
        with column:
            if len(shown) > 1:
                st.markdown(f"**{names[run.id]}**")
            sides = st.columns(2) if len(shown) == 1 else [st.container(), st.container()]
            for side, sign in zip(sides, (1.0, -1.0)):
                with side:
                    show_chart(charts[sign])
        prefix = f"**{names[run.id]}**: " if len(shown) > 1 else ""
        captions.setdefault((cfg.objective, beta), prefix + batch_caption(cfg.objective, cfg, beta, below))
    for text in captions.values():
        st.caption(text)


BATCH_HEIGHT, BATCH_HEIGHT_COMPARED = 220, 180  # the plot's own height (ui.charts.FIT_WIDTH)


def _live() -> None:
    run = current()
    if run is None:
        st.info("Choose a preset and press **Start** (or **Step one update** to go one update at a time).")
        return
    members = group(run)
    plan = spread_of(run)
    for r in members:
        r.poll()
    if plan is not None and feed_spread(plan):  # a seed ended: the next takes its place in the queue
        members = group(run)
    if buttons_are_stale(members, plan):
        st.rerun()  # a run started, got its core, or ended: redraw the whole page so the buttons follow
    target = PRESETS[run.preset].target_return
    last = run.records[-1] if run.records else {}
    position = get_scheduler().queue_position(run) if run.waiting_for else None
    # The key numbers beside the return curve, so both are on the first screen after Start.
    numbers, curve = st.columns([1, 2])
    with numbers:
        m = st.columns(2)
        ret = last.get("episode_return_mean")
        m[0].metric("Mean return, last 20 episodes", "—" if ret is None else f"{ret:.1f}", help=f"target {target:g}")
        m[1].metric("Steps done", f"{last.get('global_step', 0):,}")
        m = st.columns(2)
        m[0].metric("Steps per second", "—" if not last.get("sps") else f"{last['sps']:,.0f}")
        m[1].metric("State", state_text(run, position))
        budget = run.config["total_steps"]
        st.progress(min(last.get("global_step", 0) / budget, 1.0), text=f"{last.get('global_step', 0):,} of {budget:,} steps")
        if position is not None:
            queue_note(run, position)
        if plan is not None:
            spread_status(plan, members)
    # Another spread's seeds stay off this run's chart (they are drawn as their spread).
    same_env = [r for r in runs() if r.config["env_id"] == run.config["env_id"] and r.records
                and (r in members or spread_of(r) is None)]
    names = chart_names(run, same_env)
    with curve:
        if plan is not None:
            spread_curves(plan, members, target)
            frames = {r.id: metrics_frame(r.records, names[r.id]) for r in members if r.records}
        else:
            frames = curves(run, target, same_env, names) if same_env else {}
    outcome(run)  # under the curve, which stays on the first screen (the State metric says it ended)
    shown = members
    if plan is not None:
        by_variant = [[r for r in members if plan.variant_of(r.id) == v] for v in range(len(plan.names))]
        st.markdown(spread_reading(plan.names, [[r.records for r in seeds] for seeds in by_variant], target))
        shown = [seeds[0] for seeds in by_variant if seeds]  # each variant's first seed, on the charts below
        st.caption(f"The metrics above, the diagnostics and the latest batch below are seed {plan.seeds[0]}'s"
                   + (" of each variant." if len(plan.names) > 1 else "."))
    elif len(members) > 1:
        comparison(run, target, names)
    diagnostics(shown, frames, names, [names[r.id] for r in (shown if plan is not None else same_env)])
    latest_batches(shown, names)
    exports.downloads(run, members)


def show(active: bool) -> None:
    """The live view, on a timer while a run of the current group is active."""
    st.fragment(_live, run_every=REDRAW_EVERY_S if active else None)()
