"""5 · One PPO update: a real batch, then K epochs of minibatch steps on it, one epoch at a time."""

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from ppo_core import PRESETS
from ppo_core.lesson import (
    lesson_trainer,
    objective_curves,
    trace_update,
    update_epoch_samples,
    update_epochs_table,
)
from ui.charts import (
    BLUE,
    OKABE_ITO,
    VERMILLION,
    clip_objective_with_highlight,
    scatter_with_diagonal,
    series_chart,
    with_x_marker,
)
from ui.links import Param
from views.widgets import predict_then_reveal, show_chart
from views.lesson_controls import control

PRESET_NAMES = {
    "cartpole": "CartPole (2 actions)",
    "pendulum-discrete": "Pendulum, 5 discrete torques",
    "pendulum": "Pendulum, Gaussian policy",
}
WARMUPS = {0: "untrained", 5: "after 5 updates", 20: "after 20 updates"}
LOGGED, AFTER = "logged in epoch k", "after epoch k"
# Labels that stay the same from epoch to epoch: a chart whose spec is unchanged is redrawn in the
# browser by swapping its data, far faster than building a new chart view.
BEFORE, AFTER_CHOSEN = "before (epoch 0)", "after the chosen epoch"
# Scatter plots show at most this many samples (an evenly spaced subset, the same every epoch):
# a 2048-sample batch drawn in four charts makes each slider step a second slower in the browser.
MAX_POINTS = 512


def shown_subset(n: int) -> slice:
    """Every k-th of n samples, k the smallest step that keeps at most MAX_POINTS."""
    return slice(None, None, -(-n // MAX_POINTS))


def frozen(spec: dict) -> dict:
    """``spec`` with its datasets already Arrow tables, the form st.vega_lite_chart sends: the
    conversion from pandas is done once per trace here instead of on every redraw."""
    return {**spec, "datasets": {name: pa.Table.from_pandas(pd.DataFrame(data)) for name, data in spec["datasets"].items()}}


def epoch_charts(trace, table, over_epochs: dict, ranges: dict, epoch: int) -> dict:
    """Every chart of the page for the state after ``epoch`` epochs, as frozen specs, and the
    counts their captions quote."""
    every = pd.DataFrame(update_epoch_samples(trace, epoch))
    samples = every.iloc[shown_subset(len(every))]
    out = {"counts": {}}
    for sign in (1.0, -1.0):
        side = samples[np.sign(samples["advantage"]) == sign]
        points = pd.DataFrame({"ratio": side["ratio"], "objective": side["objective_per_unit"]})
        flat = points[side["zero_gradient"].to_numpy()]
        curves = objective_curves(trace.eps, sign, r_min=ranges["ratio"][0], r_max=ranges["ratio"][1])
        out[f"clip{sign:+.0f}"] = frozen(clip_objective_with_highlight(curves, trace.eps, sign, points, flat))
        whole_side = np.sign(every["advantage"]) == sign
        out["counts"][sign] = (int(whole_side.sum()), int((whole_side & every["zero_gradient"]).sum()))
    for name, spec in over_epochs.items():
        out[name] = frozen(with_x_marker(spec, epoch, "epoch"))
    probs = pd.DataFrame(
        {
            "before": samples["prob_before"],
            "after": samples["prob_after"],
            "advantage": np.where(samples["advantage"] > 0, "Â > 0", "Â ≤ 0"),
        }
    )
    out["probs"] = frozen(
        scatter_with_diagonal(
            probs, "before", "after", "advantage", x_title=f"π_θk(a|s): {ranges['unit']} when collected",
            y_title="π_θ(a|s) after the chosen epoch", colors={"Â > 0": BLUE, "Â ≤ 0": VERMILLION}, domain=ranges["prob"],
        )
    )
    before, after = BEFORE, AFTER_CHOSEN
    fit = pd.concat(
        [
            pd.DataFrame({"return": samples["returns"], "value": samples["value_before"], "critic": before}),
            pd.DataFrame({"return": samples["returns"], "value": samples["value_after"], "critic": after}),
        ],
        ignore_index=True,
    )
    out["fit"] = frozen(
        scatter_with_diagonal(
            fit, "return", "value", "critic", x_title="return R̂_t (the target)", y_title="V_φ(s_t)",
            colors={before: OKABE_ITO["grey"], after: BLUE}, domain=ranges["value"],
        )
    )
    return out


@st.cache_resource(show_spinner=False, max_entries=12)
def traced_update(preset: str, seed: int, warmup: int) -> dict:
    """One update on a fresh batch, traced epoch by epoch, and every epoch's charts built from it.

    Shared read-only by every session. Building and serialising the charts costs ~60 ms an
    epoch, so it is done here once: moving the epoch slider then only sends finished specs.
    The axes keep their ranges across epochs, so the dots move and the frame stays put.
    """
    trainer = lesson_trainer(preset, seed=seed, warmup_updates=warmup)
    try:
        trace = trace_update(trainer)
    finally:
        trainer.close()
    table = update_epochs_table(trace)
    ratios = np.concatenate(trace.ratios)
    values = np.concatenate([*trace.values, trace.returns])
    probs = np.concatenate(trace.action_probs)
    ranges = {
        "ratio": (min(0.0, np.floor(ratios.min() * 10) / 10), max(2.0, np.ceil(ratios.max() * 10) / 10)),
        "prob": (float(probs.min()), float(probs.max())),
        "value": (float(values.min()), float(values.max())),
        "unit": "density" if PRESETS[preset].env_id == "Pendulum-v1" else "probability",
    }
    over_epochs = {}
    for name, y_title in (("approx_kl", "approx KL"), ("clip_fraction", "clip fraction")):
        df = pd.DataFrame({"epoch": table["epoch"], AFTER: table[name], LOGGED: table[f"logged_{name}"]})
        over_epochs[name] = with_x_marker(series_chart(df, "epoch", [AFTER, LOGGED], x_title="epoch k", y_title=y_title), 0, "epoch")
    charts = [epoch_charts(trace, table, over_epochs, ranges, k) for k in range(len(trace.ratios))]
    shown = len(range(len(trace.batch))[shown_subset(len(trace.batch))])
    return {"trace": trace, "table": table, "unit": ranges["unit"], "charts": charts, "shown": shown}


st.title("5 · One PPO update")
st.markdown(
    "The last three pages built the pieces; here they run together on one batch. The current "
    "policy π_θk collects the batch and is then frozen: its log-probability of every taken action "
    "is stored with the sample. Adam then makes K passes (epochs) over the same samples in "
    "shuffled minibatches. After each pass π_θ sits a little further from π_θk, so the ratios "
    "spread out from 1, more samples reach a flat part of L^CLIP, and the value network's "
    "predictions move towards the returns. Step through the epochs and watch each of these happen."
)

c1, c2, c3 = st.columns([2, 2, 1])
# Each control is kept in the URL (ui.links), declared once by its Param.
preset = control(
    Param("update_preset", "cartpole", "choice", choices=list(PRESET_NAMES)), "Environment preset", where=c1, format_func=PRESET_NAMES.get
)
warmup = control(
    Param("update_warmup", 0, "choice", choices=list(WARMUPS)), "Policy", "radio", where=c2, format_func=WARMUPS.get, horizontal=True,
    help="A briefly trained policy has sharper action probabilities and a better value function.",
)
seed = control(Param("update_seed", 0, "int", 0, 9999), "Seed", "number", where=c3)

with st.spinner("Collecting a batch and running one update…"):
    view = traced_update(preset, seed, warmup)
trace, table = view["trace"], view["table"]
cfg = PRESETS[preset]
epochs_run = len(trace.ratios) - 1
# The step size the optimizer used; with anneal_lr the warm-up updates have lowered it.
annealed = f" (annealed from the configured {cfg.learning_rate:g}: anneal_lr lowers it every update)" if trace.learning_rate != cfg.learning_rate else ""
st.caption(
    f"Batch: {len(trace.batch)} samples ({cfg.num_envs} environments × {cfg.num_steps} steps); "
    f"K = {cfg.update_epochs} epochs of {cfg.num_minibatches} minibatch(es) of {cfg.minibatch_size}; "
    f"Adam step size {trace.learning_rate:.4g}{annealed}, ε = {trace.eps:g}, c_v = {cfg.vf_coef:g}, c_e = {cfg.ent_coef:g}."
)

st.markdown("Every minibatch step descends on one loss that holds both halves of the update:")
st.latex(
    r"L(\theta,\phi)=-\underbrace{\hat{\mathbb{E}}_t\big[\min\big(r_t\hat A_t,\ "
    r"\operatorname{clip}(r_t,1-\epsilon,1+\epsilon)\hat A_t\big)\big]}_{L^{CLIP}}"
    r"+c_v\underbrace{\tfrac12\hat{\mathbb{E}}_t\big[(V_\phi(s_t)-\hat R_t)^2\big]}_{L^{V}}"
    r"-c_e\,\hat{\mathbb{E}}_t\big[H[\pi_\theta(\cdot|s_t)]\big]"
)
st.markdown(
    "where r_t = π_θ(a_t|s_t) / π_θk(a_t|s_t) compares the policy being trained with the frozen one, "
    "Â_t are the batch's advantages (normalised per minibatch) and H is the policy's entropy."
)

# Another preset may have fewer epochs than the one shown before: keep the slider in range.
if st.session_state.get("update_epoch", 0) > epochs_run:
    st.session_state["update_epoch"] = epochs_run
# The epoch slider's range depends on the batch, so its Param is made here, once that is known.
epoch = control(
    Param("update_epoch", 0, "int", 0, epochs_run), "Epochs done (0 = the batch as collected)",
    help="Each epoch is one shuffled pass over the whole batch in minibatches.",
)
charts = view["charts"][epoch]
row = {name: values[epoch] for name, values in table.items()}

m1, m2, m3, m4 = st.columns(4)
m1.metric("approx KL", f"{row['approx_kl']:.5f}", help="mean of (r − 1) − log r over the batch after this epoch")
m2.metric("clip fraction", f"{row['clip_fraction']:.3f}", help="share of samples with |r − 1| > ε after this epoch")
m3.metric(
    "samples on a flat part", f"{row['zero_gradient']} of {len(trace.batch)}",
    help="the clip binds on these (ringed red below): the next epoch gets no gradient from them",
)
m4.metric("ratios span", f"{row['ratio_min']:.3f} – {row['ratio_max']:.3f}", help="smallest and largest r = π_θ/π_θk in the batch")

predict_then_reveal(
    "update",
    "A sample's ratio has passed 1 + ε and its advantage is positive, so the clip gives it zero "
    "gradient. In the remaining epochs, can its ratio still change?",
    [
        "No: with zero gradient it stays where it is",
        "Yes: the steps taken for other samples move the shared network, and its ratio with it",
        "Only if its advantage changes sign",
    ],
    "Yes: the steps taken for other samples move the shared network, and its ratio with it",
    "The clip only removes this sample's own pull. All samples share the parameters θ, and each "
    "gradient step taken for the others changes π_θ(a|s) in this state too, so its ratio keeps "
    "drifting, sometimes further past 1 + ε. Step to the last epoch: some ringed dots sit well "
    "beyond the edge. The clip is a brake, not a wall, which is why training logs watch approx KL "
    "as well, and why some implementations stop an update's epochs early once it passes a target "
    "(`target_kl`).",
)

st.header("The ratios on the clipped objective")
left, right = st.columns(2)
for col, sign in ((left, 1.0), (right, -1.0)):
    with col:
        show_chart(charts[f"clip{sign:+.0f}"])
        total, flat = charts["counts"][sign]
        st.caption(f"{total} samples with Â {'>' if sign > 0 else '<'} 0; {flat} of them on the flat part.")
st.caption(
    "Each green dot is one sample after the chosen epoch: its ratio r across, its L^CLIP divided "
    "by |Â| up, so every sample lands on the curve for A = +1 or A = −1. At epoch 0 they all sit "
    "at r = 1. Step forward: samples with Â > 0 drift right, those with Â < 0 drift left, and the "
    "red rings mark those past the dashed edge on the side their advantage favours, where the "
    "gradient is zero."
    + (
        f" This batch has {len(trace.batch)} samples; this plot and the two scatter plots below show an "
        f"evenly spaced {view['shown']} of them (the counts above are for all)."
        if view["shown"] < len(trace.batch) else ""
    )
)

st.header("Approx KL and clip fraction, epoch by epoch")
k1, k2 = st.columns(2)
with k1:
    show_chart(charts["approx_kl"])
with k2:
    show_chart(charts["clip_fraction"])
st.caption(
    "Both tend to grow as π_θ moves away from π_θk. The \"logged\" line is what a training log shows: the "
    "mean over the epoch's minibatches, each measured just before its own gradient step, so it "
    "trails the value measured on the whole batch after the epoch. With a single minibatch "
    "(CartPole) it is exactly the previous epoch's value. The dotted rule marks the epoch shown above."
)

st.header("The taken actions' probabilities")
show_chart(charts["probs"])
st.caption(
    "One dot per sample: the probability of its taken action when the batch was collected, against "
    "the probability now. Dots above the dashed diagonal became more likely. Look for the green "
    "(better than expected) dots rising and the red ones sinking, and for how far they get in K "
    "epochs: mostly within a factor 1 ± ε of where they started."
    + (" For the Gaussian policy these are densities, which can exceed 1." if view["unit"] == "density" else "")
)

st.header("The value function's fit to the returns")
st.markdown(
    "The same steps regress V_φ on this batch's returns R̂_t (the L^V term above). Explained "
    "variance scores the fit: 1 is perfect, 0 is no better than predicting the batch's mean return, "
    "and below 0 is worse than that."
)
st.latex(r"\mathrm{EV}=1-\frac{\operatorname{Var}[\hat R_t-V_\phi(s_t)]}{\operatorname{Var}[\hat R_t]}")
v1, v2 = st.columns([3, 1])
with v1:
    show_chart(charts["fit"])
v2.metric("explained variance before", f"{table['explained_variance'][0]:.3f}")
v2.metric(
    f"explained variance after epoch {epoch}", f"{row['explained_variance']:.3f}",
    delta=f"{row['explained_variance'] - table['explained_variance'][0]:+.3f}" if epoch else None,
)
v2.metric(
    f"½·mean (V − R̂)² after epoch {epoch}", f"{row['value_error']:.4g}",
    delta=f"{row['value_error'] - table['value_error'][0]:+.4g}" if epoch else None, delta_color="inverse",
)
st.caption(
    "A dot on the dashed diagonal is a state whose value is predicted exactly. Grey is the critic "
    "that computed this batch's advantages, blue the critic after the chosen epoch. The squared "
    "error falls epoch by epoch, yet explained variance can drop for an untrained critic: its first "
    "steps mostly lift its predictions from about 0 towards the average return, and that shift "
    "does not count in a variance."
)

with st.expander("Every number, epoch by epoch"):
    st.dataframe(pd.DataFrame(table), hide_index=True, key="update_table")
    st.caption(
        "approx_kl, clip_fraction, zero_gradient, explained_variance and value_error are measured "
        "on the whole batch after epoch k; the logged_… columns, the losses and clipped_during are "
        "means or counts over epoch k's minibatches, as the loss saw them."
    )
