"""4 · The clipped objective: L^CLIP over the ratio, for Â > 0 and Â < 0, and the KL penalty beside it."""

import pandas as pd
import streamlit as st

from ppo_core import adaptive_beta, clip_binds, clipped_objective, clipped_term
from ppo_core.lesson import objective_curves
from ui.charts import clip_objective_chart
from ui.links import Param
from views.widgets import predict_then_reveal, show_chart
from views.lesson_controls import control
from views.lesson_tables import show_table

EXAMPLE_EPS = 0.1  # the notebook's ε for its two worked examples: at 0.2 both sit on the clip's edge

st.title("4 · The clipped objective")
st.markdown(
    r"A batch was collected by the old policy $\pi_{\theta_k}$. While we improve $\pi_\theta$ on it, each sample's "
    r"contribution is weighted by the **probability ratio** $r = \pi_\theta(a|s) / \pi_{\theta_k}(a|s)$. Plain "
    "importance weighting, r·Â, rewards pushing r as far as the advantage estimate Â likes, and a batch "
    "gathered by yesterday's policy says little about a policy that has moved far. PPO takes the "
    "smaller of r·Â and a version with r clipped to [1 − ε, 1 + ε]: once a sample has moved the "
    "policy far enough *in the direction its advantage asks for*, it stops pulling."
)
st.latex(
    r"L^{CLIP}(\theta)=\hat{\mathbb{E}}_t\Big[\min\big(r_t(\theta)\,\hat A_t,\;"
    r"\operatorname{clip}(r_t(\theta),1-\epsilon,1+\epsilon)\,\hat A_t\big)\Big]"
)

predict_then_reveal(
    "clip",
    "A sample has advantage Â = −0.5 and its ratio has already fallen to r = 0.6, with ε = 0.2. "
    "During the next minibatch step, does this sample still push its action's probability down?",
    ["Yes, its gradient is the full r·Â", "No, the clip stops its gradient", "It pushes the probability back up"],
    "No, the clip stops its gradient",
    "With Â < 0 the objective wants r smaller. Below 1 − ε = 0.8, min(r·Â, 0.8·Â) = 0.8·Â, a "
    "constant: the sample has done its share, and PPO stops it pulling the policy further from "
    "the one that collected the data. The same sample at r = 1.4 (moved the wrong way) would "
    "keep the full gradient r·Â.",
)

c1, c2, c3 = st.columns(3)
# Each control is kept in the URL (ui.links), declared once by its Param.
eps = control(Param("clip_eps", 0.2, "float", 0.05, 0.5, step=0.01), "Clip range ε", where=c1, help="PPO's usual value is 0.1 to 0.3")
adv_abs = control(Param("clip_adv", 1.0, "float", 0.1, 2.0, step=0.1), "Advantage size |Â|", where=c2)
probe = control(Param("clip_probe", 1.3, "float", 0.0, 2.0, step=0.01), "Probe ratio r", where=c3)

left, right = st.columns(2)
for col, adv in ((left, adv_abs), (right, -adv_abs)):
    with col:
        curves = objective_curves(eps, adv)
        show_chart(clip_objective_chart(curves, eps, adv, probe=probe))
        lhs, rhs = probe * adv, float(clipped_term(probe, adv, eps))
        value = float(clipped_objective(probe, adv, eps))
        flows = not bool(clip_binds(probe, adv, eps))
        m1, m2, m3 = st.columns(3)
        m1.metric("r·Â", f"{lhs:+.3f}")
        m2.metric("clip(r)·Â", f"{rhs:+.3f}")
        m3.metric("L^CLIP = min", f"{value:+.3f}")
        if flows:
            st.success(f"At r = {probe:.2f} the gradient flows: the sample still moves the policy.")
        else:
            st.warning(f"At r = {probe:.2f} the clip binds: this sample's gradient is zero.")
st.caption(
    "Blue is the objective PPO maximises, grey dashed the unclipped r·Â, the dashed rules mark "
    "1 − ε and 1 + ε, and the shaded band (\"gradient is zero\" in the legend) is where the clipped "
    "branch is the minimum so the gradient is zero. Look at the asymmetry: for Â > 0 only ratios "
    "above 1 + ε are cut, for Â < 0 only ratios below 1 − ε. A sample that moved the *wrong* way is never clipped: the "
    "min keeps the worse, unclipped value, and its full gradient pulls it back."
)

st.header("The worked examples of \"PPO from scratch\"")
st.markdown(
    f"The \"PPO from scratch\" notebook works two samples by hand with ε = {EXAMPLE_EPS:g}: one with Â > 0 "
    "that has already moved past 1 + ε, one with Â < 0 past 1 − ε. Both are clipped there, so L^CLIP "
    f"is smaller than r·Â and the gradient is zero. The last two columns repeat them at the ε above (ε = {eps:.2f}): "
    "at the usual ε = 0.2 both ratios sit on the edge of the clip range, L^CLIP equals r·Â, and the "
    "examples no longer show the clip at work."
)
rows = []
for r, a in ((1.2, 0.5), (0.8, -0.5)):
    rows.append(
        {
            "r": r,
            "Â": a,
            "r·Â": r * a,
            f"clip(r, {1 - EXAMPLE_EPS:g}, {1 + EXAMPLE_EPS:g})·Â": float(clipped_term(r, a, EXAMPLE_EPS)),
            "L^CLIP": float(clipped_objective(r, a, EXAMPLE_EPS)),
            "gradient": "zero (clipped)" if clip_binds(r, a, EXAMPLE_EPS) else "flows",
            "L^CLIP at the ε above": float(clipped_objective(r, a, eps)),
            "gradient at the ε above": "zero (clipped)" if clip_binds(r, a, eps) else "flows",
        }
    )
show_table(pd.DataFrame(rows), key="clip_examples")


st.header("Beside it: the KL-penalty objective")
st.markdown(
    "The PPO paper's other variant keeps r·Â unclipped and subtracts β times the KL divergence "
    "between old and new policy. Per sample the KL estimate at ratio r is (r − 1) − log r, zero "
    "at r = 1 and growing on both sides, so the objective bends down away from r = 1 instead of "
    "going flat."
)
st.latex(r"L^{KLPEN}(\theta)=\hat{\mathbb{E}}_t\big[r_t(\theta)\hat A_t-\beta\,\mathrm{KL}[\pi_{\theta_k}(\cdot|s_t),\,\pi_\theta(\cdot|s_t)]\big]")
k1, k2 = st.columns(2)
beta = control(Param("clip_beta", 1.0, "float", 0.0, 5.0, step=0.1), "Penalty weight β", where=k1)
kl_left, kl_right = st.columns(2)
for col, adv in ((kl_left, adv_abs), (kl_right, -adv_abs)):
    with col:
        curves = objective_curves(eps, adv, beta=beta, r_min=0.05)
        show_chart(clip_objective_chart(curves, eps, adv))
st.caption(
    "Red is r·Â − β·KL. With β = 0 it is the unclipped line; raise β and its peak moves back "
    "towards r = 1. Unlike the clip, the penalty never makes a gradient exactly zero: it only "
    "makes moving away costlier. Where the red curve falls below the axis, a triangle on the edge "
    "marks where it leaves: it goes on falling there, it does not flatten."
)
st.markdown(
    "**Adaptive β.** A fixed β is hard to choose, so after each update the paper compares the "
    "measured KL d with a target d_targ: if d > 1.5·d_targ, β doubles; if d < d_targ / 1.5, β "
    "halves; otherwise it stays."
)
a1, a2, a3 = st.columns(3)
kl_target = control(Param("clip_kl_target", 0.01, "float", 0.001, 0.1), "Target KL d_targ", "number", where=a1, step=0.001, format="%.3f")
measured = control(
    Param("clip_kl_measured", 0.02, "float", 0.0, 0.2), "Measured KL d after the update", "number", where=a2, step=0.001, format="%.3f"
)
new_beta = adaptive_beta(beta, measured, kl_target)
a3.metric("β for the next update", f"{new_beta:.3g}", delta=f"{new_beta - beta:+.3g}" if new_beta != beta else "unchanged")
