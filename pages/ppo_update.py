"""5 · One PPO update: a real batch, then K epochs of minibatch steps on it, one epoch at a time."""

import numpy as np
import pandas as pd
import streamlit as st

from ppo_core import PRESETS
from ppo_core.lesson import lesson_trainer, objective_curves, trace_update, update_epoch_samples, update_epochs_table
from ui.charts import clip_objective_with_highlight, scatter_with_diagonal, series_chart, with_x_marker
from ui.widgets import predict_then_reveal, show_chart

PRESET_NAMES = {
    "cartpole": "CartPole (2 actions)",
    "pendulum-discrete": "Pendulum, 5 discrete torques",
    "pendulum": "Pendulum, Gaussian policy",
}
WARMUPS = {0: "untrained", 5: "after 5 updates", 20: "after 20 updates"}


@st.cache_resource(show_spinner=False, max_entries=18)
def traced_update(preset: str, seed: int, warmup: int):
    """The trace of one update (read-only, shared by every session) and its per-epoch table."""
    trainer = lesson_trainer(preset, seed=seed, warmup_updates=warmup)
    try:
        trace = trace_update(trainer)
    finally:
        trainer.close()
    return trace, update_epochs_table(trace)


st.title("5 · One PPO update")
st.markdown(
    "The last three pages built the pieces; here they run together on one batch. The current "
    "policy π_θk collects the batch and freezes: its log-probabilities are stored beside every "
    "sample. Then Adam makes K passes (epochs) over the same samples in shuffled minibatches. "
    "After each pass π_θ has moved a little further from π_θk, so the ratios spread out from 1, "
    "more samples reach the flat part of L^CLIP, and the value network's predictions move "
    "towards the returns. Step through the epochs and watch each of these happen."
)

c1, c2, c3 = st.columns([2, 2, 1])
preset = c1.selectbox("Environment preset", list(PRESET_NAMES), format_func=PRESET_NAMES.get, key="update_preset")
warmup = c2.radio(
    "Policy", list(WARMUPS), format_func=WARMUPS.get, horizontal=True, key="update_warmup",
    help="A briefly trained policy has sharper action probabilities and a better value function.",
)
seed = int(c3.number_input("Seed", min_value=0, max_value=9999, value=0, step=1, key="update_seed"))

with st.spinner("Collecting a batch and running one update…"):
    trace, table = traced_update(preset, seed, warmup)
cfg = PRESETS[preset]
epochs_run = len(trace.ratios) - 1
st.caption(
    f"Batch: {len(trace.batch)} samples ({cfg.num_envs} environments × {cfg.num_steps} steps), "
    f"K = {cfg.update_epochs} epochs of {cfg.num_minibatches} minibatch(es) of {cfg.minibatch_size}, "
    f"Adam step size {cfg.learning_rate:g}, ε = {trace.eps:g}, value-loss weight c_v = {cfg.vf_coef:g}."
)

st.markdown("Each minibatch step descends on one loss that holds both halves of the update:")
st.latex(
    r"L(\theta,\phi)=-\underbrace{\hat{\mathbb{E}}_t\big[\min\big(r_t\hat A_t,\ "
    r"\operatorname{clip}(r_t,1-\epsilon,1+\epsilon)\hat A_t\big)\big]}_{L^{CLIP}}"
    r"+c_v\underbrace{\tfrac12\hat{\mathbb{E}}_t\big[(V_\phi(s_t)-\hat R_t)^2\big]}_{L^{V}}"
    r"-c_e\,\hat{\mathbb{E}}_t\big[H[\pi_\theta(\cdot|s_t)]\big],"
    r"\qquad r_t=\frac{\pi_\theta(a_t|s_t)}{\pi_{\theta_k}(a_t|s_t)}"
)

# A preset with fewer epochs than the last one shown: keep the slider inside its range.
if st.session_state.get("update_epoch", 0) > epochs_run:
    st.session_state["update_epoch"] = epochs_run
epoch = st.slider(
    "Epochs done (0 = the batch as collected)", 0, epochs_run, key="update_epoch",
    help="Each epoch is one shuffled pass over the whole batch in minibatches.",
)
samples = pd.DataFrame(update_epoch_samples(trace, epoch))
row = {name: values[epoch] for name, values in table.items()}

m1, m2, m3, m4 = st.columns(4)
m1.metric("approx KL", f"{row['approx_kl']:.5f}", help="mean((r − 1) − log r) over the batch after this epoch")
m2.metric("clip fraction", f"{row['clip_fraction']:.3f}", help="share of samples with |r − 1| > ε after this epoch")
m3.metric(
    "samples on a flat part", f"{row['zero_gradient']} of {len(samples)}",
    help="the clip binds on these: ringed red in the plots below; the next epoch gets no gradient from them",
)
m4.metric(
    "explained variance of V", f"{row['explained_variance']:.3f}",
    delta=f"{row['explained_variance'] - table['explained_variance'][0]:+.3f} since epoch 0" if epoch else None,
)

st.subheader("The ratios on the clipped objective")
r_max = max(2.0, float(np.ceil(samples["ratio"].max() * 10) / 10))
r_min = min(0.0, float(np.floor(samples["ratio"].min() * 10) / 10))
left, right = st.columns(2)
for col, sign in ((left, 1.0), (right, -1.0)):
    side = samples[np.sign(samples["advantage"]) == sign]
    points = pd.DataFrame({"ratio": side["ratio"], "objective": side["objective_per_unit"]})
    flat = side[side["zero_gradient"]]
    highlighted = pd.DataFrame({"ratio": flat["ratio"], "objective": flat["objective_per_unit"], "advantage": flat["advantage"]})
    chart = clip_objective_with_highlight(
        objective_curves(trace.eps, sign, r_min=r_min, r_max=r_max), trace.eps, sign, points, highlighted
    )
    with col:
        show_chart(chart)
    col.caption(f"{len(side)} samples with Â {'>' if sign > 0 else '<'} 0, {len(flat)} of them on the flat part.")
st.caption(
    "Each green dot is one sample after the chosen epoch: its ratio r on the x-axis, its L^CLIP "
    "divided by |Â| on the y-axis, so every sample lands on the curve for A = +1 or A = −1. At "
    "epoch 0 all of them sit at r = 1. Step forward and watch samples with Â > 0 drift right and "
    "those with Â < 0 drift left; red rings mark the ones past the dashed edge on the side their "
    "advantage favours, whose gradient is now zero."
)

st.subheader("Approx KL and clip fraction, epoch by epoch")
per_epoch = pd.DataFrame(
    {
        "epoch": table["epoch"],
        "after epoch k": table["approx_kl"],
        "logged in epoch k": table["logged_approx_kl"],
    }
)
clip_share = pd.DataFrame(
    {
        "epoch": table["epoch"],
        "after epoch k": table["clip_fraction"],
        "logged in epoch k": table["logged_clip_fraction"],
    }
)
k1, k2 = st.columns(2)
k1.altair_chart(
    with_x_marker(series_chart(per_epoch, "epoch", list(per_epoch.columns[1:]), x_title="epoch k", y_title="approx KL"), epoch, "epoch"),
    width="stretch",
)
k2.altair_chart(
    with_x_marker(series_chart(clip_share, "epoch", list(clip_share.columns[1:]), x_title="epoch k", y_title="clip fraction"), epoch, "epoch"),
    width="stretch",
)
st.caption(
    "Both grow as the policy moves away from π_θk. The \"logged\" line is what a training log "
    "reports: the mean over the epoch's minibatches, each measured just before its own gradient "
    "step, so it trails the value measured on the whole batch after the epoch (with a single "
    "minibatch it is exactly the previous epoch's value). Presets with several minibatches per "
    "epoch keep the two closer. Dotted: the epoch shown above."
)

st.subheader("The taken actions' probabilities")
probs = pd.DataFrame(
    {
        "prob_before": samples["prob_before"],
        "prob_after": samples["prob_after"],
        "advantage": np.where(samples["advantage"] > 0, "Â > 0", "Â ≤ 0"),
    }
)
unit = "density" if PRESETS[preset].env_id == "Pendulum-v1" else "probability"
st.altair_chart(
    scatter_with_diagonal(
        probs, "prob_before", "prob_after", "advantage",
        x_title=f"π_θk(a|s): {unit} when collected", y_title=f"π_θ(a|s) after epoch {epoch}",
        colors={"Â > 0": "#2ca02c", "Â ≤ 0": "#d62728"},
    ),
    width="stretch",
)
st.caption(
    "One dot per sample: the probability its taken action had when the batch was collected against "
    "the probability now. Dots above the dashed diagonal became more likely. Look for the green "
    "(better than expected) dots rising and the red ones sinking, and for how far they get in K "
    "epochs: the clip keeps most within a factor 1 ± ε of where they started."
    + (" For the Gaussian policy these are densities, which can exceed 1." if unit == "density" else "")
)

st.subheader("The value function's fit to the returns")
st.markdown(
    "The same steps regress V_φ on the returns R̂_t of this batch (the L^V term above). Explained "
    "variance measures the fit: 1 is perfect, 0 is no better than predicting the batch's mean "
    "return, below 0 is worse than that."
)
st.latex(r"\mathrm{EV}=1-\frac{\operatorname{Var}[\hat R_t-V_\phi(s_t)]}{\operatorname{Var}[\hat R_t]}")
values = pd.concat(
    [
        pd.DataFrame({"returns": samples["returns"], "value": samples["value_before"], "when": "before (epoch 0)"}),
        pd.DataFrame({"returns": samples["returns"], "value": samples["value_after"], "when": f"after epoch {epoch}"}),
    ],
    ignore_index=True,
)
v1, v2 = st.columns([3, 1])
v1.altair_chart(
    scatter_with_diagonal(
        values, "returns", "value", "when", x_title="return R̂_t (target)", y_title="V_φ(s_t)",
        colors={"before (epoch 0)": "#9e9e9e", f"after epoch {epoch}": "#1f77b4"},
    ),
    width="stretch",
)
v2.metric("explained variance before", f"{table['explained_variance'][0]:.3f}")
v2.metric(f"explained variance after epoch {epoch}", f"{row['explained_variance']:.3f}")
if epoch:
    v2.metric(f"value loss logged in epoch {epoch}", f"{row['value_loss']:.4g}")
st.caption(
    "A dot on the dashed diagonal is a state whose value is predicted exactly. Grey is the critic "
    "that computed this batch's advantages, blue the critic after the chosen epoch: the blue cloud "
    "should lie closer to the diagonal. An untrained critic starts near V = 0 everywhere, a flat "
    "grey band."
)

predict_then_reveal(
    "update",
    "A sample's ratio has passed 1 + ε and its advantage is positive, so the clip gives it zero "
    "gradient. In the remaining epochs, can its ratio still change?",
    [
        "No: with zero gradient it is frozen where it is",
        "Yes: the steps taken for other samples move the shared network, and its ratio with it",
        "Only if its advantage changes sign",
    ],
    "Yes: the steps taken for other samples move the shared network, and its ratio with it",
    "The clip only removes this sample's own pull. Every sample shares the parameters θ, and the "
    "gradient steps taken for the others change π_θ(a|s) for this state too, so its ratio can keep "
    "drifting, even further past 1 + ε. Step to the last epoch: some ringed dots sit well beyond the "
    "edge. The clip is a brake, not a wall, which is why training logs also watch approx KL, and why "
    "some implementations stop the epochs early once it passes a target (`target_kl`).",
)

with st.expander("Every number, epoch by epoch"):
    st.dataframe(pd.DataFrame(table), hide_index=True, key="update_table")
    st.caption(
        "approx_kl, clip_fraction, zero_gradient and explained_variance are measured on the whole "
        "batch after epoch k; the logged_… columns, the losses and clipped_during are means or "
        "counts over epoch k's minibatches, as the loss saw them."
    )
