"""6 · Live training: a preset, its hyperparameters, and a run in its own process, drawn live."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS, PPOConfig, clipped_objective
from ppo_core.lesson import objective_curves, play_episode
from ppo_core.trainer import agent_for
from ui.charts import clip_objective_chart, diagnostics_chart, return_curves_chart
from ui.model_io import CheckpointError, load_checkpoint
from ui.runner import DIVERGED, FAILED, FINISHED, PAUSED, QUEUED, RUNNING, STOPPED, TrainingRun, get_scheduler
from ui.widgets import predict_then_reveal, show_chart

DIAGNOSTICS = {
    "policy_loss": "policy loss",
    "value_loss": "value loss",
    "entropy": "entropy",
    "approx_kl": "approx KL",
    "clip_fraction": "clip fraction",
    "explained_variance": "explained variance",
    "learning_rate": "learning rate",
}
FIRST_RECORD_WAIT_S = 1.0
OBJECTIVES = {"clip": "clipped (L^CLIP)", "kl_penalty": "KL penalty, adaptive β", "none": "no clipping (r·A)"}


scheduler = get_scheduler  # one per server: caps concurrent runs across every student's session


def runs() -> list[TrainingRun]:
    return st.session_state.setdefault("train_runs", [])


def current() -> TrainingRun | None:
    return next((r for r in runs() if r.id == st.session_state.get("train_current")), None)


def hyperparameters(preset: str) -> tuple[PPOConfig | None, str | None]:
    """The controls, defaulting to the preset's values; returns (config, None) or (None, error)."""
    base = PRESETS[preset]
    k = f"train_{preset}_"  # each preset keeps its own values, starting from its defaults
    c1, c2, c3, c4 = st.columns(4)
    values = dict(
        clip_coef=c1.slider("Clip range ε", 0.05, 0.5, base.clip_coef, 0.01, key=k + "clip_coef"),
        objective=c2.selectbox("Objective", list(OBJECTIVES), index=list(OBJECTIVES).index(base.objective), format_func=OBJECTIVES.get, key=k + "objective"),
        learning_rate=c3.number_input("Learning rate", 1e-6, 1.0, base.learning_rate, 1e-4, format="%.5f", key=k + "learning_rate"),
        seed=int(c4.number_input("Seed", 0, 99_999, base.seed, 1, key=k + "seed")),
    )
    c1, c2, c3, c4 = st.columns(4)
    values.update(
        gamma=c1.slider("Discount γ", 0.8, 0.999, base.gamma, 0.001, format="%.3f", key=k + "gamma"),
        gae_lambda=c2.slider("GAE λ", 0.0, 1.0, base.gae_lambda, 0.01, key=k + "gae_lambda"),
        ent_coef=c3.number_input("Entropy coefficient", 0.0, 1.0, base.ent_coef, 0.001, format="%.3f", key=k + "ent_coef"),
        total_steps=int(c4.number_input("Step budget", 1_000, 2_000_000, base.total_steps, 10_000, key=k + "total_steps")),
    )
    c1, c2, c3, c4 = st.columns(4)
    values.update(
        num_envs=int(c1.number_input("Environments", 1, 64, base.num_envs, 1, key=k + "num_envs")),
        num_steps=int(c2.number_input("Steps per rollout (each env)", 1, 8192, base.num_steps, 8, key=k + "num_steps")),
        update_epochs=int(c3.number_input("Epochs K", 1, 100, base.update_epochs, 1, key=k + "update_epochs")),
        num_minibatches=int(c4.number_input("Minibatches", 1, 4096, base.num_minibatches, 1, key=k + "num_minibatches")),
    )
    try:
        return base.replace(**values), None
    except ValueError as exc:
        return None, str(exc)


def label(cfg: PPOConfig, preset: str) -> str:
    base = PRESETS[preset]
    diffs = [f"{name}={getattr(cfg, name):g}" if isinstance(getattr(cfg, name), float) else f"{name}={getattr(cfg, name)}"
             for name in ("objective", "clip_coef", "learning_rate", "gamma", "gae_lambda", "update_epochs", "num_minibatches", "num_steps", "num_envs", "ent_coef")
             if getattr(cfg, name) != getattr(base, name)]
    return f"#{len(runs()) + 1} {preset} seed {cfg.seed}" + (f" ({', '.join(diffs)})" if diffs else " (preset)")


# -- the buttons' callbacks run before the script, so the buttons drawn after them are current --
def on_start(cfg: PPOConfig, preset: str, paused: bool = False) -> None:
    run = TrainingRun(cfg.to_dict(), label=label(cfg, preset), start_paused=paused)
    run.preset = preset
    runs().append(run)
    st.session_state["train_current"] = run.id
    scheduler().submit(run)
    # A warm worker sends its first update within a few tenths of a second: wait for it here so
    # this rerun draws the first point, rather than the live timer's first tick a second later.
    deadline = time.monotonic() + FIRST_RECORD_WAIT_S
    while run.state == RUNNING and not run.records and time.monotonic() < deadline:
        time.sleep(0.02)
        run.poll()


def on_command(command: str) -> None:
    run = current()
    if run is not None:
        run.send(command)


def on_step(cfg: PPOConfig | None, preset: str) -> None:
    run = current()
    if run is not None and run.state == PAUSED:
        run.send("step")
    elif cfg is not None:
        on_start(cfg, preset, paused=True)
        current().send("step")


def on_stop() -> None:
    run = current()
    if run is not None:
        run.stop()


def on_reset(preset: str) -> None:
    run = current()
    if run is not None:
        run.stop()
        st.session_state["train_runs"] = [r for r in runs() if r.id != run.id]
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

preset = st.selectbox(
    "Preset",
    list(PRESETS),
    format_func=lambda p: f"{p} — {ENVIRONMENTS[PRESETS[p].env_id].title}, target {PRESETS[p].target_return:g}",
    key="train_preset",
)
with st.expander("Hyperparameters (defaults are the preset's tuned values)", expanded=False):
    cfg, error = hyperparameters(preset)
if error:
    st.error(f"Can't start with these settings — {error}")

run = current()
active = run is not None and run.active
b = st.columns(6)
b[0].button("Start", type="primary", disabled=cfg is None or active, on_click=on_start, args=(cfg, preset), key="train_start", width="stretch")
b[1].button("Pause", disabled=not (run and run.state == RUNNING), on_click=on_command, args=("pause",), key="train_pause", width="stretch")
b[2].button("Step one update", disabled=(run is not None and run.state in (RUNNING, QUEUED)) or (not (run and run.state == PAUSED) and cfg is None), on_click=on_step, args=(cfg, preset), key="train_step", width="stretch")
b[3].button("Resume", disabled=not (run and run.state == PAUSED), on_click=on_command, args=("resume",), key="train_resume", width="stretch")
b[4].button("Stop", disabled=not active, on_click=on_stop, key="train_stop", width="stretch")
b[5].button("Reset", disabled=run is None, on_click=on_reset, args=(preset,), key="train_reset", width="stretch")


def play_gif(config: dict, agent, stats, deterministic: bool) -> dict:
    """One episode rendered by Gymnasium, as an animated GIF in memory (no file left behind)."""
    from PIL import Image

    out = play_episode(PPOConfig.from_dict(config), agent, observation_stats=stats, deterministic=deterministic, max_steps=500, frame_every=2)
    images = [Image.fromarray(f).resize((f.shape[1] // 2, f.shape[0] // 2)) for f in out["frames"]]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return {"gif": buf.getvalue(), "steps": out["steps"], "episode_return": out["episode_return"]}


def records_frame(r: TrainingRun) -> pd.DataFrame:
    df = pd.DataFrame([{k: v for k, v in rec.items() if not k.startswith("batch_")} for rec in r.records])
    if len(df):
        df.insert(0, "run", r.label)
    return df


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    run = current()
    if run is None:
        st.info("Choose a preset and press **Start** (or **Step one update** to go one update at a time).")
        return
    before = run.state
    run.poll()
    if run.state != before and run.state not in (RUNNING, PAUSED):
        st.rerun()  # the run ended: redraw the whole page so the buttons follow
    target = PRESETS[run.preset].target_return
    last = run.records[-1] if run.records else {}
    state_text = {
        QUEUED: f"waiting for a free core (position {sched.queue_position(run)} in the queue)",
        RUNNING: "training", PAUSED: "paused", FINISHED: "finished", STOPPED: "stopped",
        DIVERGED: "stopped itself", FAILED: "failed",
    }[run.state]
    if run.state == DIVERGED:
        st.error(f"The run diverged and stopped itself: {run.message}")
    elif run.state == FAILED:
        st.error(f"The run failed: {run.message}")
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
    budget = run.config["total_steps"]
    st.progress(min(last.get("global_step", 0) / budget, 1.0), text=f"{last.get('global_step', 0):,} of {budget:,} steps")

    same_env = [r for r in runs() if r.config["env_id"] == run.config["env_id"] and r.records]
    if same_env:
        curves = pd.concat([records_frame(r) for r in same_env], ignore_index=True)
        show_chart(return_curves_chart(curves, target))
        st.caption(
            "Each line is one run of this session on this environment; the dashed line is the "
            "preset's target. Start a second run with one setting changed (say, no clipping, "
            "same seed) and compare the curves."
        )
        diag = records_frame(run).melt(id_vars=["run", "global_step"], value_vars=[c for c in DIAGNOSTICS if c in records_frame(run)], var_name="metric")
        diag["metric"] = diag["metric"].map(DIAGNOSTICS)
        show_chart(diagnostics_chart(diag.dropna()))
        st.caption(
            "The numbers CleanRL and Stable-Baselines3 log. Watch approx KL and the clip fraction: "
            "they rise when an update moves the policy far, and the clip keeps them in check. "
            "Explained variance near 1 means the critic predicts the returns well."
        )
    if last.get("batch_ratio"):
        st.subheader("The latest batch on the clipped objective")
        eps = run.config["clip_coef"]
        ratio = np.asarray(last["batch_ratio"])
        adv = np.asarray(last["batch_advantage"])
        left, right = st.columns(2)
        for col, sign in ((left, 1.0), (right, -1.0)):
            side = ratio[np.sign(adv) == sign]
            points = pd.DataFrame({"ratio": side, "objective": clipped_objective(side, sign, eps)})
            r_max = max(2.0, float(np.ceil(ratio.max() * 10) / 10))
            with col:
                show_chart(clip_objective_chart(objective_curves(eps, sign, r_max=r_max), eps, sign, points=points, height=260))
        st.caption(
            "Each dot is a sample of the latest batch after its update, at its ratio r, on the "
            "objective per unit |Â|. Dots in the orange band no longer pass a gradient. With "
            "'no clipping' the dots spread further from r = 1."
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
    w2.image(anim["gif"], caption=f"{anim['steps']} steps, return {anim['episode_return']:.1f}")

st.subheader("Export and import")
e1, e2, e3 = st.columns(3)
if run is not None and run.records:
    e1.download_button("Metrics (CSV)", records_frame(run).to_csv(index=False), file_name=f"ppo-{run.preset}-{run.id}.csv", mime="text/csv", key="train_csv")
    e2.download_button("Config (JSON)", json.dumps(run.config, indent=2), file_name=f"ppo-{run.preset}-{run.id}.json", mime="application/json", key="train_json")
if run is not None and run.model_state is not None:
    e3.download_button("Model (PyTorch state dict)", run.model_state, file_name=f"ppo-{run.preset}-{run.id}.pt", key="train_model")
elif run is not None:
    e3.caption("The model can be saved once the run has stopped or finished.")

upload = st.file_uploader(
    f"Load a saved model of the {preset} preset to watch it act (.pt, at most 2 MB)", type=["pt", "pth"], key="train_upload"
)
if upload is not None:
    agent = agent_for(PRESETS[preset])
    try:
        stats = load_checkpoint(upload.getvalue(), agent)
    except CheckpointError as exc:
        st.error(f"Can't use {upload.name}: {exc}.")
    else:
        st.success(f"Loaded {upload.name}: its shapes match the {preset} preset's network.")
        if st.button("Play one episode with the loaded model", key="train_play_loaded"):
            with st.spinner("Playing one episode…"):
                st.session_state["train_loaded_animation"] = play_gif(PRESETS[preset].to_dict(), agent, stats, deterministic)
        if st.session_state.get("train_loaded_animation"):
            anim = st.session_state["train_loaded_animation"]
            st.image(anim["gif"], caption=f"{anim['steps']} steps, return {anim['episode_return']:.1f}")

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
