"""The training page's runs in this session, and the buttons that start and steer them.

The buttons' callbacks run before the script, so the buttons drawn after them are current.
A comparison's runs share a group: every button acts on all of them. So do a seed spread's
(the same settings, or each variant of a comparison, on N seeds): the page queues its seeds as
the per-student cap leaves room (ui.spread.SpreadPlan), and Stop drops the ones not queued yet.

Every run is the student's (their personal token, views.session.student_token) and kept in the
run store: "Your runs" lists them from the store, and opening one puts it beside this
session's runs, live if this server still trains it, else as the store has it (a StoredRun,
which the live view draws the same way).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from ppo_core import PRESETS, PPOConfig
from runs.manager import PAUSED, QUEUED, RUNNING, StoredRun, TooManyRuns, TrainingRun, get_scheduler, open_run
from ui.compare import COMPARISONS, comparison_configs, variant_labels
from ui.spread import DEFAULT_SEEDS, MAX_SEEDS, MIN_SEEDS, SpreadPlan, check_seeds, feed_order, spread_configs
from views import session, training_controls

FIRST_RECORD_WAIT_S = 1.0
REFUSED_KEY = "train_refused"  # why the last Start was refused (the per-student cap), shown once
STEP_NOTE_KEY = "train_step_note"  # why the last Step did nothing (the run had ended), shown once
DRAWN_KEY = "train_buttons_drawn_for"  # drawn_states() when the buttons were last drawn
PACE_KEY = "train_pace"  # seconds between updates (0: full speed): views.live_view.pace_control draws it
SPREADS_KEY = "train_spreads"  # group id -> ui.spread.SpreadPlan, for each seed spread of this session


def runs() -> list[TrainingRun | StoredRun]:
    return st.session_state.setdefault("train_runs", [])


def current() -> TrainingRun | None:
    return next((r for r in runs() if r.id == st.session_state.get("train_current")), None)


def group(run: TrainingRun | None) -> list[TrainingRun]:
    """The current run and, for a comparison, the runs started with it (the buttons act on all),
    as far as they are this student's: no button steers another token's run."""
    return [r for r in shown_with(run) if mine(r)]


def shown_with(run: TrainingRun | None) -> list[TrainingRun]:
    """The current run and the runs of its comparison, whoever started them."""
    if run is None:
        return []
    return [r for r in runs() if r.group == run.group] if run.group else [run]


def spread_of(run) -> SpreadPlan | None:
    """The seed spread the run belongs to, if it is one's."""
    return st.session_state.get(SPREADS_KEY, {}).get(run.group) if run is not None and run.group else None


def mine(run) -> bool:
    """Whether the run belongs to this session's student (their personal token)."""
    return run.owner is not None and run.owner == session.student_token()


def label(cfg: PPOConfig, preset: str, number: int) -> str:
    diffs = training_controls.changed_settings(cfg, preset)
    return f"#{number} {preset} seed {cfg.seed}" + (f" ({', '.join(diffs)})" if diffs else " (preset)")


def next_number() -> int:
    """The number of the student's next run: one more than the runs the store holds of them."""
    store = get_scheduler().store
    return (len(store.runs_of(token=session.student_token())) if store is not None else len(runs())) + 1


# -- the callbacks --------------------------------------------------------------------------------
def new_run(cfg: PPOConfig, preset: str, paused: bool = False, group: str | None = None) -> TrainingRun:
    """Submit a run of this student's (raises TooManyRuns past the per-student cap). In a class
    with an assignment the run is the assignment's (its fixed values and budget hold whatever
    the widgets said) and is recorded in the class."""
    from views.classroom import ASSIGNMENT, assignment_config

    assignment = st.session_state.get(ASSIGNMENT)
    if assignment is not None:
        preset = assignment.preset
        cfg = assignment_config(assignment, {n: getattr(cfg, n) for n in assignment.varied})
    cfg = cfg.replace(stop_at_target=st.session_state.get("train_stop_at_target", True))
    # session_id: with PPO_STOP_ON_DISCONNECT=1 the run ends with this browser session.
    run = TrainingRun(cfg.to_dict(), label=label(cfg, preset, next_number()), start_paused=paused,
                      session_id=session.session_id(), group=group, owner=session.student_token(), preset=preset,
                      pace_s=st.session_state.get(PACE_KEY, 0.0),
                      class_id=assignment.class_id if assignment else None, assignment_id=assignment.id if assignment else None)
    get_scheduler().submit(run)
    runs().append(run)
    return run


def room_for(wanted: int) -> bool:
    """Whether the student may start ``wanted`` more runs; if not, say why (shown under the buttons)."""
    sched, owner = get_scheduler(), session.student_token()
    left = sched.runs_left(owner)
    if left is not None and left < wanted:
        st.session_state[REFUSED_KEY] = sched.too_many_runs_message(owner, wanted)
        return False
    return True


def on_start(cfg: PPOConfig, preset: str, paused: bool = False) -> TrainingRun | None:
    if not room_for(1):
        return None
    try:
        run = new_run(cfg, preset, paused)
    except TooManyRuns as exc:  # another tab of the student's started one meanwhile
        st.session_state[REFUSED_KEY] = str(exc)
        return None
    st.session_state["train_current"] = run.id
    # A warm worker sends its first update within a few tenths of a second: wait for it here so
    # this rerun draws the first point, rather than the live timer's first tick a second later.
    deadline = time.monotonic() + FIRST_RECORD_WAIT_S
    while run.state == RUNNING and not run.records and time.monotonic() < deadline:
        time.sleep(0.02)
        run.poll()
    return run


def new_group(prefix: str) -> str:
    """A new group id for a comparison ("cmp") or a seed spread ("spr"), never one this session
    used before: numbering by the runs' count would repeat after a Reset shortened the list, and
    a new spread would take over an older one's plan."""
    number = st.session_state.get("train_groups", 0) + 1
    st.session_state["train_groups"] = number
    return f"{prefix}{number}"


def on_compare(configs: list[PPOConfig], preset: str, kind: str) -> None:
    if not room_for(len(configs)):
        return
    group_id = new_group("cmp")
    st.session_state.setdefault("train_compare_kinds", {})[group_id] = kind  # how its runs are named
    try:
        started = [new_run(c, preset, group=group_id) for c in configs]
    except TooManyRuns as exc:
        st.session_state[REFUSED_KEY] = str(exc)
        return
    st.session_state["train_current"] = started[0].id


def on_spread(variants: list[list[PPOConfig]], names: list[str], preset: str) -> None:
    """Train each variant (one, or a comparison's) on the same N seeds: queue as many of the
    runs as the per-student cap leaves room for; :func:`feed_spread` queues the rest later."""
    if not room_for(1):
        return
    group_id = new_group("spr")
    plan = SpreadPlan(group_id, names, [c.seed for c in variants[0]], feed_order(variants), preset)
    st.session_state.setdefault(SPREADS_KEY, {})[group_id] = plan
    feed_spread(plan)
    if plan.run_ids:
        st.session_state["train_current"] = plan.run_ids[0]


def feed_spread(plan: SpreadPlan) -> int:
    """Queue the spread's next seeds, as many as the student's cap leaves room for (the live
    view calls this on every tick, after polling: a seed that ended frees its place). Returns
    how many were queued."""
    queued = 0
    for _, cfg in plan.take(get_scheduler().runs_left(session.student_token())):
        try:
            run = new_run(cfg, plan.preset, group=plan.group)
        except TooManyRuns:  # another tab took the room meanwhile: the next tick tries again
            break
        plan.run_ids.append(run.id)
        queued += 1
    return queued


def on_command(command: str) -> None:
    for r in group(current()):
        if r.active:
            r.send(command)


def on_step(cfg: PPOConfig | None, preset: str) -> None:
    run = current()
    paused = [r for r in group(run) if r.state == PAUSED]
    if not paused and run is not None and not run.active:  # nothing left to step: say so, start nothing
        st.session_state[STEP_NOTE_KEY] = ended_note(run)
        return
    if paused:
        for r in paused:  # a comparison steps in lockstep
            r.send("step")
    elif cfg is not None:
        run = on_start(cfg, preset, paused=True)
        if run is not None:
            run.send("step")


def ended_note(run) -> str:
    """Why Step one update does nothing on an ended run, and what does start one."""
    how = {"finished": "has finished", "stopped": "was stopped"}.get(run.state, f"has ended ({run.state})")
    return (f"This run {how}: it has no next update to take. **Start** trains a new run; **Reset**, "
            "then **Step one update**, starts one that goes one update at a time.")


def on_pace() -> None:
    """The pace menu changed: the current runs take it from their next update on."""
    for r in group(current()):
        if r.active:
            r.set_pace(st.session_state[PACE_KEY])


def on_stop() -> None:
    plan = spread_of(current())
    if plan is not None:
        plan.cancelled = True  # the seeds not queued yet are not started
    for r in group(current()):
        if r.active:
            r.stop()


def on_reset(preset: str) -> None:
    gone = shown_with(current())
    for r in gone:
        if mine(r):
            r.stop()
    if gone:
        st.session_state["train_runs"] = [r for r in runs() if r not in gone]
    plan = spread_of(current())
    if plan is not None:
        plan.cancelled = True
        del st.session_state[SPREADS_KEY][plan.group]
    st.session_state.pop("train_current", None)
    st.session_state.pop("train_animation", None)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"train_{preset}_")]:
        del st.session_state[key]


def on_open() -> None:
    """Open the run chosen in "Your runs": live if this server trains it, else from the store."""
    run_id = st.session_state.get("train_my_run")
    sched = get_scheduler()
    if run_id is None or sched.store is None:
        return
    run = open_run(run_id, sched.store, sched)
    if run is None or run.owner != session.student_token():
        return
    st.session_state["train_runs"] = [r for r in runs() if r.id != run_id] + [run]
    st.session_state["train_current"] = run_id


# -- the widgets ----------------------------------------------------------------------------------
def outcome_text(row) -> str:
    """A stored run's outcome in a few words, for the list."""
    if row.steps_to_target is not None:
        return f"target at {row.steps_to_target:,} steps" + (f" ({row.seconds_to_target:.1f} s)" if row.seconds_to_target is not None else "")
    if row.final_return is not None:
        return f"final return {row.final_return:.1f}"
    return ""


def your_runs() -> None:
    """The student's runs from the store (newest first), one of which can be opened, and the
    personal link that finds them again."""
    from views.links import personal_url

    sched = get_scheduler()
    if sched.store is None:
        return
    mine = sched.store.runs_of(token=session.student_token())
    with st.expander(f"Your runs ({len(mine)})", expanded=False):
        st.caption("Your personal link (bookmark it: it brings back your runs; share the link to this view instead, "
                   "which has no token):")
        st.code(personal_url(), language=None, wrap_lines=True)
        if not mine:
            st.caption("No runs yet: every run you start is kept here, with its curves, exports and model.")
            return
        st.dataframe(pd.DataFrame({
            "Run": [r.label for r in mine],
            "Status": [r.message if r.status == "interrupted" and r.message else r.status for r in mine],
            "Steps": [r.last_step for r in mine],
            "Outcome": [outcome_text(r) for r in mine],
        }), hide_index=True, key="train_my_runs_table")
        labels = {r.id: f"{r.label} — {r.status}" for r in mine}
        o1, o2 = st.columns([3, 1], vertical_alignment="bottom")
        o1.selectbox("Run", list(labels), format_func=labels.get, key="train_my_run")
        o2.button("Open", on_click=on_open, key="train_open", width="stretch",
                  help="Draw this run's curves below, with its exports and its model (if it was saved)")


class ComparePanel(NamedTuple):
    """What :func:`compare_panel` chose, for :func:`buttons` to draw its buttons with the others
    once the runs' states are known. ``spread`` and ``compare_spread`` are on_spread's
    (variants, names) for the spread and for the comparison on N seeds (None where invalid)."""

    configs: list[PPOConfig] | None  # the comparison's runs (None: the settings are invalid)
    kind: str
    compare_column: Any
    spread: tuple | None
    spread_column: Any
    on_seeds: bool  # the comparison runs on N seeds
    compare_spread: tuple | None


def compare_panel(cfg: PPOConfig | None, preset: str, error: str | None) -> ComparePanel:
    """The comparison's and the seed spread's choices and their reading."""
    with st.expander("Compare, or spread over seeds: one thing changed, or the same settings on N seeds", expanded=False):
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
            "class: runs beyond the free cores wait in the queue, and the page shows their place."
        )
        if compare_error and cfg is not None:
            st.error(f"Can't compare — {compare_error}")
        spread, compare_spread, on_seeds, spread_column = _spread_row(cfg, configs)
    return ComparePanel(configs, kind, k3, spread, spread_column, on_seeds, compare_spread)


def _spread_row(cfg: PPOConfig | None, compare_configs: list[PPOConfig] | None):
    """The seed spread's row of the panel: N, whether the comparison runs on N seeds, and the
    on_spread arguments of each (None where the settings or N are not valid)."""
    s1, s2, s3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    n = s1.number_input(
        f"Seeds (N, {MIN_SEEDS}–{MAX_SEEDS})", value=DEFAULT_SEEDS, step=1, key="train_spread_n",
        help="The seed spread trains on the seeds s, s + 1, …, s + N − 1 (s: the seed set above).",
    )
    on_seeds = s2.toggle(f"Compare on {n} seeds", key="train_compare_spread",
                         help="Start comparison trains each variant on the same N seeds: one median and band per variant.")
    spread = compare_spread = None
    spread_error = None
    if cfg is not None:
        try:
            spread = ([spread_configs(cfg, n)], [f"seeds {cfg.seed}–{cfg.seed + check_seeds(n) - 1}"])
            if compare_configs is not None:
                compare_spread = ([spread_configs(c, n) for c in compare_configs], variant_labels(compare_configs))
        except ValueError as exc:
            spread_error = str(exc)
    sched = get_scheduler()
    st.caption(
        "A seed spread trains these settings on N seeds and draws the median return with the band from "
        "the lowest to the highest seed: one run can be lucky, and the band shows what it hides. "
        f"This server trains {sched.max_running:g} runs at a time for the whole class, and each student may "
        f"have {sched.max_runs_per_student} runs queued, running or paused at once: the page queues the next "
        "seed as one ends (while the page is open), so a spread takes about N ÷ "
        f"{min(sched.max_running, sched.max_runs_per_student):g} times one run."
    )
    if spread_error and cfg is not None:
        st.error(f"Can't start a seed spread — {spread_error}")
    return spread, compare_spread, on_seeds, s3


def drawn_states(runs_now: list, plan) -> tuple:
    """What the buttons were drawn for: each run's state and what it waits for, and the spread's
    seeds still to start. The live view reruns the page when this changes."""
    return tuple((r.id, r.state, r.waiting_for) for r in runs_now), (plan.pending if plan is not None else 0)


def buttons_are_stale(runs_now: list, plan) -> bool:
    """True when a run changed state since the buttons were drawn (the records are read by a
    thread of their own, so a run can end between the buttons and the live view)."""
    return st.session_state.get(DRAWN_KEY) != drawn_states(runs_now, plan)


def buttons(cfg: PPOConfig | None, preset: str, compare: ComparePanel | None) -> bool:
    """Start comparison, Start, Pause, Step, Resume, Stop and Reset, each enabled only where it
    acts; returns whether a run of the current group is active (the live view's timer runs)."""
    run = current()
    runs_now = group(run)
    plan = spread_of(run)
    active = any(r.active for r in runs_now) or (plan is not None and plan.pending > 0)
    paused_now = [r for r in runs_now if r.state == PAUSED]
    if compare is not None:  # None: no comparisons nor spreads here (a class's assignment)
        compare_configs, kind, compare_column, spread, spread_column, on_seeds, compare_spread = compare
        if on_seeds:
            compare_column.button("Start comparison", disabled=compare_spread is None or active, on_click=on_spread,
                                  args=(*(compare_spread or ([], [])), preset), key="train_compare", width="stretch")
        else:
            compare_column.button(
                "Start comparison", disabled=compare_configs is None or active, on_click=on_compare, args=(compare_configs, preset, kind),
                key="train_compare", width="stretch",
            )
        spread_column.button("Start seed spread", disabled=spread is None or active, on_click=on_spread,
                             args=(*(spread or ([], [])), preset), key="train_spread", width="stretch")
    b = st.columns(6)
    b[0].button("Start", type="primary", disabled=cfg is None or active, on_click=on_start, args=(cfg, preset), key="train_start", width="stretch")
    b[1].button("Pause", disabled=not any(r.state == RUNNING for r in runs_now), on_click=on_command, args=("pause",), key="train_pause", width="stretch")
    b[2].button("Step one update", disabled=any(r.state in (RUNNING, QUEUED) for r in runs_now) or (not paused_now and cfg is None), on_click=on_step, args=(cfg, preset), key="train_step", width="stretch")
    b[3].button("Resume", disabled=not paused_now, on_click=on_command, args=("resume",), key="train_resume", width="stretch")
    b[4].button("Stop", disabled=not active, on_click=on_stop, key="train_stop", width="stretch")
    b[5].button("Reset", disabled=run is None, on_click=on_reset, args=(preset,), key="train_reset", width="stretch")
    st.session_state[DRAWN_KEY] = drawn_states(runs_now, plan)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(refused)
    step_note = st.session_state.pop(STEP_NOTE_KEY, None)
    if step_note:
        st.info(step_note)
    return active
