"""6 · Live training: a preset, its hyperparameters, and a run in its own process, drawn live."""

from __future__ import annotations

import hashlib
import io
import time

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ppo_core import ENVIRONMENTS, PRESETS, PPOConfig
from ppo_core.lesson import play_episode
from ppo_core.trainer import agent_for
from ui.charts import batch_clip_charts, diagnostics_chart, return_curves_chart
from ui.compare import COMPARISONS, comparison_configs, comparison_reading, variant_name
from ui.links import Param, code_span, restore, shown_text
from ui.model_io import MAX_CHECKPOINT_BYTES, CheckpointError, load_checkpoint
from ui.report import config_json, diagnostics_frame, lab_report_zip, metrics_csv, metrics_frame, report_file_name
from ui.runner import DIVERGED, FAILED, FINISHED, PAUSED, QUEUED, RUNNING, STOPPED, TrainingRun, get_scheduler
from ui.widgets import predict_then_reveal, show_chart
from views import training_controls

FIRST_RECORD_WAIT_S = 1.0


scheduler = get_scheduler  # one per server: caps concurrent runs across every student's session


def runs() -> list[TrainingRun]:
    return st.session_state.setdefault("train_runs", [])


def current() -> TrainingRun | None:
    return next((r for r in runs() if r.id == st.session_state.get("train_current")), None)


def group(run: TrainingRun | None) -> list[TrainingRun]:
    """The current run and, for a comparison, the runs started with it (the buttons act on all)."""
    if run is None:
        return []
    return [r for r in runs() if r.group == run.group] if run.group else [run]


PRESET_PARAM = Param("train_preset", "cartpole", "choice", choices=tuple(PRESETS), name="preset")
STOP_PARAM = Param("train_stop_at_target", True, "bool", name="stop_at_target")


def label(cfg: PPOConfig, preset: str) -> str:
    diffs = training_controls.changed_settings(cfg, preset)
    return f"#{len(runs()) + 1} {preset} seed {cfg.seed}" + (f" ({', '.join(diffs)})" if diffs else " (preset)")


# -- the buttons' callbacks run before the script, so the buttons drawn after them are current --
def new_run(cfg: PPOConfig, preset: str, paused: bool = False, group: str | None = None) -> TrainingRun:
    cfg = cfg.replace(stop_at_target=st.session_state.get("train_stop_at_target", True))
    ctx = get_script_run_ctx()  # the run ends with this browser session (ui.runner's watchdog)
    run = TrainingRun(cfg.to_dict(), label=label(cfg, preset), start_paused=paused, session_id=ctx.session_id if ctx else None, group=group)
    run.preset = preset
    runs().append(run)
    scheduler().submit(run)
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


st.title("6 · Live training")
st.markdown(
    "Everything from the earlier pages, running: each update collects a batch, estimates "
    "advantages with GAE, and takes K epochs of minibatch steps on the clipped objective. The "
    "run trains in a process of its own beside this page, so the page stays responsive and "
    "redraws from its latest numbers every second."
)
sched = scheduler()
sched.warm_up()


@st.fragment(run_every=10.0)
def keep_spare_warm() -> None:
    """While this page is open, even with no run, tell the scheduler so it keeps its warm spare
    worker (Start then trains at once); it lets the spare go soon after the last page closes."""
    sched.warm_up()


keep_spare_warm()

restore([PRESET_PARAM, STOP_PARAM])
preset = st.selectbox(
    "Preset",
    list(PRESETS),
    format_func=lambda p: f"{p} — {ENVIRONMENTS[PRESETS[p].env_id].title}, target {PRESETS[p].target_return:g}",
    key="train_preset",
)
notes = restore(training_controls.url_params(preset), show_notes=False)
for note in notes:  # shown outside the collapsed expander, so a bad link is noticed
    st.warning(note, icon=":material/link_off:")
with st.expander("Hyperparameters (defaults are the preset's tuned values)", expanded=False):
    cfg, error = training_controls.draw(preset)
st.toggle(
    "Stop when the target is reached", key="train_stop_at_target",
    help="The run ends at its first update whose mean return reaches the target, which frees its "
    "core for the next run in the queue. Off: it trains on to the step budget.",
)
if error:
    st.error(f"Can't start with these settings — {error}")

with st.expander("Compare: the same preset and seed with one thing changed", expanded=False):
    k1, k2, k3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    kind = k1.selectbox("Compare", list(COMPARISONS), format_func=COMPARISONS.get, key="train_compare_kind")
    second_lr = None
    if kind == "two_learning_rates":
        base_lr = cfg.learning_rate if cfg is not None else PRESETS[preset].learning_rate
        second_lr = k2.number_input("Second learning rate", 1e-6, 1.0, min(base_lr * 3, 1.0), 1e-4, format="%.5f", key="train_compare_lr")
    compare_configs, compare_error = None, error
    if cfg is not None:
        try:
            compare_configs = comparison_configs(cfg, kind, second_lr)
        except ValueError as exc:
            compare_error = str(exc)
    st.caption(
        "Starts one run per variant with every other setting as above (seed included), so the "
        "curves part only where the change matters. The runs share the server's cores with the "
        "class: a third run may wait in the queue."
    )
    if compare_error and cfg is not None:
        st.error(f"Can't compare — {compare_error}")

run = current()
runs_now = group(run)
active = any(r.active for r in runs_now)
paused_now = [r for r in runs_now if r.state == PAUSED]
k3.button(
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


def play_gif(config: dict, agent, stats, deterministic: bool) -> dict:
    """One episode rendered by Gymnasium, as an animated GIF in memory (no file left behind),
    with its caption: steps, whether the player's step limit cut the episode, and the return in
    the units of the training curve."""
    from PIL import Image

    cfg = PPOConfig.from_dict(config)
    out = play_episode(cfg, agent, observation_stats=stats, deterministic=deterministic, max_steps=500, frame_every=2)
    images = [Image.fromarray(f).resize((f.shape[1] // 2, f.shape[0] // 2)) for f in out["frames"]]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    cut = f" (cut short: the environment's own limit is {out['time_limit']})" if out["cut_short"] else ""
    note = ENVIRONMENTS[cfg.env_id].reward_note
    units = f"{note}, as in the return chart" if note else "the environment's own rewards, as in the return chart"
    caption = f"{out['steps']} steps{cut}, return {out['episode_return']:.1f} ({units})"
    return {"gif": buf.getvalue(), "steps": out["steps"], "episode_return": out["episode_return"], "caption": caption}


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    run = current()
    if run is None:
        st.info("Choose a preset and press **Start** (or **Step one update** to go one update at a time).")
        return
    before = [r.state for r in group(run)]
    for r in group(run):
        r.poll()
    if any(r.state != b for r, b in zip(group(run), before)):
        st.rerun()  # a run started, got its core, or ended: redraw the whole page so the buttons follow
    target = PRESETS[run.preset].target_return
    last = run.records[-1] if run.records else {}
    waiting = run.waiting_for  # 'start', 'resume', 'step' or None
    position = sched.queue_position(run) if waiting else None
    state_text = {
        QUEUED: f"waiting for a free core (position {position} in the queue)",
        RUNNING: "training", PAUSED: "paused", FINISHED: "finished", STOPPED: "stopped",
        DIVERGED: "stopped itself", FAILED: "failed",
    }[run.state]
    if waiting in ("resume", "step"):
        state_text = "waiting for a free core to " + ("resume" if waiting == "resume" else "take one update")
    if run.state == DIVERGED:
        st.error(f"The run diverged and stopped itself: {run.message}")
    elif run.state == FAILED:
        n = len(run.records)
        kept = f"The {n:,} update{'s' if n != 1 else ''} it sent are kept below" if n else "It had sent no update yet"
        st.error(f"The run failed: {run.message}. {kept}; **Start** begins a new run.")
    elif run.state == STOPPED and run.message:  # stopped by the server, not by the Stop button
        st.warning(f"The run {run.message}.")
    elif run.state == FINISHED:
        (st.success if run.reached_target else st.warning)(
            f"Finished: {'target reached' if run.reached_target else 'the step budget ran out before the target'}."
        )
    m = st.columns(4)
    ret = last.get("episode_return_mean")
    m[0].metric("Mean return, last 20 episodes", "—" if ret is None else f"{ret:.1f}", help=f"target {target:g}")
    m[1].metric("Steps done", f"{last.get('global_step', 0):,}")
    m[2].metric("Steps per second", "—" if not last.get("sps") else f"{last['sps']:,.0f}")
    m[3].metric("State", state_text)
    if position is not None:
        busy, cores = len(sched.training()), sched.max_running
        goes_on = {"start": "starts", "resume": "resumes", "step": "takes its update"}[waiting]
        why = (f"Position {position} in the queue; {busy} run{' is' if busy == 1 else 's are'} training on this "
               f"server's {cores} cores. A paused run leaves its core free: this one {goes_on} when a core frees "
               "(a run pauses, stops or finishes) and the runs ahead of it in the queue have theirs.")
        if sched.room_wanted and waiting == "start":
            why += (f" The server also keeps at most {sched.max_paused} paused runs, each with its own process: "
                    "the one paused longest is being stopped to make room.")
        st.caption(why)
    budget = run.config["total_steps"]
    st.progress(min(last.get("global_step", 0) / budget, 1.0), text=f"{last.get('global_step', 0):,} of {budget:,} steps")
    if len(group(run)) > 1:
        kind = st.session_state["train_compare_kinds"][run.group]
        members = group(run)
        cfgs = [PPOConfig.from_dict(r.config) for r in members]
        st.markdown(comparison_reading([variant_name(c, kind) for c in cfgs], [r.records for r in members], target, [c.total_steps for c in cfgs]))
        st.caption("The metrics above are the first run's; " + ", ".join(
            f"{r.label}: {r.state}" + (f" (queue {sched.queue_position(r)})" if r.waiting_for else "") for r in members[1:]
        ) + ".")

    same_env = [r for r in runs() if r.config["env_id"] == run.config["env_id"] and r.records]
    if same_env:
        frames = {r.id: metrics_frame(r.records, r.label) for r in same_env}  # once per redraw
        curves = pd.concat(frames.values(), ignore_index=True)
        show_chart(return_curves_chart(curves, target))
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
    if last.get("batch_ratio"):
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
    export(run, group(run))


def export(run: TrainingRun, members: list[TrainingRun]) -> None:
    """Downloads of the run (or the comparison). Inside the live fragment so they stay current;
    the CSV and the zip are built when clicked (deferred data), not on every redraw."""
    if not run.records:
        return
    st.subheader("Export")
    e1, e2, e3, e4 = st.columns(4)
    e1.download_button("Metrics (CSV)", lambda: metrics_csv(run.records, run.label), file_name=f"ppo-{run.preset}-{run.id}.csv", mime="text/csv", key="train_csv", on_click="ignore")
    e2.download_button("Config (JSON)", config_json(run.config), file_name=f"ppo-{run.preset}-{run.id}.json", mime="application/json", key="train_json", on_click="ignore")
    if run.model_state is not None:
        e3.download_button("Model (PyTorch state dict)", run.model_state, file_name=f"ppo-{run.preset}-{run.id}.pt", key="train_model", on_click="ignore")
    else:
        e3.caption("The model can be saved once the run has stopped or finished.")
    reported = [r for r in members if r.records]
    e4.download_button(
        "Lab report (zip)" if len(reported) == 1 else f"Lab report, {len(reported)} runs (zip)",
        lambda: lab_report_zip(reported), file_name=report_file_name(reported), mime="application/zip",
        key="train_report", on_click="ignore",
        help="Each run's metrics CSV and config JSON, the return and diagnostics charts as PNG images, "
        "and a Markdown summary of the settings and outcomes, in one zip (built when clicked, a few seconds).",
    )


live()

st.subheader("Watch the policy play")
w1, w2 = st.columns([1, 2])
deterministic = w1.toggle("Greedy actions (no sampling)", value=False, key="train_greedy")
if w1.button("Play one episode with the current policy", disabled=run is None, key="train_play"):
    with st.spinner("Playing one episode…"):
        model = run.snapshot(timeout=5.0)
        if model is None:
            st.warning("The run has no policy yet: it is still waiting to start.")
        else:
            agent = agent_for(PPOConfig.from_dict(run.config))
            stats = load_checkpoint(model, agent)
            st.session_state["train_animation"] = play_gif(run.config, agent, stats, deterministic)
if st.session_state.get("train_animation"):
    anim = st.session_state["train_animation"]
    w2.image(anim["gif"], caption=anim["caption"])

st.subheader("Import a model")
upload = st.file_uploader(
    f"Load a saved model of the {preset} preset to watch it act (.pt, at most 2 MB)", type=["pt", "pth"], key="train_upload",
    max_upload_size=max(1, MAX_CHECKPOINT_BYTES // 2**20),  # the browser refuses a larger file before sending it
)


def checked_upload(data: bytes, preset: str) -> tuple[object | None, dict | None, str | None]:
    """(agent, observation statistics, None) for a usable checkpoint, (None, None, why) otherwise.

    The uploader keeps its file across reruns, and every click on the page reruns it: the
    verdict is kept in the session by the file's content hash (and the preset it was checked
    against), so a file is checked once, refused or not."""
    key = (hashlib.sha256(data).hexdigest(), preset)
    kept = st.session_state.get("train_upload_verdict")
    if kept is None or kept[0] != key:
        agent = agent_for(PRESETS[preset])
        try:
            verdict = (agent, load_checkpoint(data, agent), None)
        except CheckpointError as exc:
            verdict = (None, None, str(exc))
        st.session_state["train_upload_verdict"] = kept = (key, verdict)
    return kept[1]


if upload is not None:
    file_name = code_span(shown_text(upload.name))  # a file's name is the uploader's text, not Markdown
    agent, stats, refusal = checked_upload(upload.getvalue(), preset)
    if refusal:
        st.error(f"Can't use {file_name}: {refusal}.")
    else:
        st.success(f"Loaded {file_name}: its shapes match the {preset} preset's network.")
        if st.button("Play one episode with the loaded model", key="train_play_loaded"):
            with st.spinner("Playing one episode…"):
                st.session_state["train_loaded_animation"] = play_gif(PRESETS[preset].to_dict(), agent, stats, deterministic)
        if st.session_state.get("train_loaded_animation"):
            anim = st.session_state["train_loaded_animation"]
            st.image(anim["gif"], caption=anim["caption"])

predict_then_reveal(
    "training",
    "You train cartpole twice with the same seed: once with ε = 0.2, once with 'no clipping'. "
    "Which run shows the larger approx KL per update?",
    ["The clipped run", "The unclipped run", "They are the same: the seed is the same"],
    "The unclipped run",
    "Without the clip, every sample keeps pulling for all K epochs, so the policy moves further "
    "from the one that collected the batch: approx KL and the fraction of ratios outside [1 − ε, 1 + ε] "
    "grow. With the same seed both runs start from the same network and the same first batch, so "
    "the curves part exactly where the clip begins to bind.",
)
