"""1 · The loop and the policy gradient: an untrained policy acting in a real environment, the
log-derivative trick, importance sampling, and why PPO keeps its probability ratio near 1."""

import pandas as pd
import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS
from ppo_core.lesson import (
    importance_sampling,
    importance_sampling_sweep,
    lesson_rollout,
    lesson_trainer,
)
from ui.charts import histogram_chart, log_scale_chart, points_chart
from ui.links import Param
from views.lesson_data import env_title
from views.widgets import predict_then_reveal, show_chart
from views.lesson_controls import control, env_and_seed
from views.lesson_tables import show_table, transcript

LOOP_PRESETS = ["cartpole", "pendulum-discrete"]  # discrete policies, observations as the environment gives them
LOOP_MAX_STEPS = 30  # collected once per (environment, seed); the slider shows the first rows
SHIFTS = [round(0.25 * i, 2) for i in range(13)]  # q's mean for the variance sweep: 0 to 3



@st.cache_resource(show_spinner="Running the untrained policy…", max_entries=64)
def untrained_rollout(preset: str, seed: int, num_steps: int):
    """``num_steps`` steps of a freshly initialised policy in one environment (read-only)."""
    trainer = lesson_trainer(preset, seed=seed, warmup_updates=0, num_envs=1)
    rollout = lesson_rollout(trainer, num_steps)
    trainer.close()
    return rollout


EXACT, SAMPLED = "exact (formula)", "sampled (200 estimates)"  # the two variance curves, as the legend names them


@st.cache_data(show_spinner=False)
def variance_sweep() -> pd.DataFrame:
    sweep = pd.DataFrame(importance_sampling_sweep(SHIFTS))
    return sweep.rename(columns={"analytic_variance": EXACT, "sampled_variance": SAMPLED})


st.title("1 · The loop and the policy gradient")
st.markdown(
    "Reinforcement learning is a conversation between two parties. The **agent** sees a state "
    "s_t, draws an action a_t from its policy π_θ(a|s), and the **environment** answers with a "
    "reward r_t and the next state. PPO's outer loop is exactly this: let the current policy talk "
    "to the environment for a while, then use the transcript to make good actions more probable. "
    "Below is a real transcript: a policy network that has not learnt anything yet, acting in a "
    "Gymnasium environment."
)
st.latex(r"s_0 \xrightarrow{\;a_0 \sim \pi_\theta(\cdot|s_0)\;} (r_0, s_1) \xrightarrow{\;a_1 \sim \pi_\theta(\cdot|s_1)\;} (r_1, s_2) \;\cdots")

c1, c2, c3 = st.columns(3)
# Each control is kept in the URL (ui.links), declared once by its Param.
preset, seed = env_and_seed("loop", LOOP_PRESETS, c1, c2)
shown = control(Param("loop_steps", 10, "int", 3, LOOP_MAX_STEPS), "Steps shown", where=c3)

table = transcript(untrained_rollout(preset, seed, LOOP_MAX_STEPS)).head(shown)
show_table(table, key="loop_transitions")
note = ENVIRONMENTS[PRESETS[preset].env_id].reward_note
st.caption(
    f"{env_title(preset)}, seed {seed}: each row is one turn of the loop. The policy is untrained, so "
    "π(a_t|s_t) stays close to uniform: about 1/2 for CartPole's two pushes, 1/5 for Pendulum's "
    "five torques. The last columns say whether the episode ended after that step."
    + (f" Here the {note}." if note else "")
)

st.header("The policy gradient")
st.markdown(
    "We want the parameters θ that make the expected return J(θ) large, so we need its gradient. "
    "The trouble is that θ changes *which* trajectories τ happen, not the rewards themselves. "
    "The **log-derivative trick**, ∇p = p ∇log p, turns the gradient of an expectation into an "
    "expectation we can estimate from samples:"
)
st.latex(
    r"\nabla_\theta J(\theta) = \nabla_\theta \int p_\theta(\tau)\,R(\tau)\,d\tau"
    r"= \int p_\theta(\tau)\,\nabla_\theta \log p_\theta(\tau)\,R(\tau)\,d\tau"
    r"= \mathbb{E}_{\tau\sim\pi_\theta}\big[\nabla_\theta \log p_\theta(\tau)\,R(\tau)\big]"
)
st.markdown(
    "A trajectory's probability is the start-state probability times, at every step, the policy's "
    "choice and the environment's response. In the logarithm these become a sum, and only the "
    "policy's terms depend on θ: the environment's dynamics drop out of the gradient, so we never "
    "need a model of them."
)
st.latex(
    r"\log p_\theta(\tau) = \log \mu(s_0) + \sum_t \big[\log \pi_\theta(a_t|s_t) + \log P(s_{t+1}|s_t,a_t)\big]"
    r"\quad\Rightarrow\quad \nabla_\theta \log p_\theta(\tau) = \sum_t \nabla_\theta \log \pi_\theta(a_t|s_t)"
)
st.markdown(
    "Replacing the whole return by an **advantage** Â_t (how much better this action turned out "
    "than the policy's average, pages 2 and 3) lowers the noise and gives the estimator PPO starts from:"
)
st.latex(r"\hat g = \hat{\mathbb{E}}_t\big[\nabla_\theta \log \pi_\theta(a_t|s_t)\,\hat A_t\big]")
st.markdown(
    "Read it against the table: every row has a log π(a_t|s_t). A gradient step along ĝ raises "
    "that number for rows with Â_t > 0 and lowers it for rows with Â_t < 0."
)

st.header("Reusing old samples: importance sampling")
st.markdown(
    "ĝ is an average over samples drawn from the *current* policy. After one gradient step the "
    "policy has changed and, strictly, the batch belongs to someone else. Collecting a new batch "
    "for every step is wasteful, so PPO reweights the old one. If samples come from p but we want "
    "an expectation under q, each sample is weighted by how much more likely q makes it:"
)
st.latex(r"\mathbb{E}_{x\sim q}[f(x)] = \int p(x)\,\frac{q(x)}{p(x)}\,f(x)\,dx = \mathbb{E}_{x\sim p}\Big[\frac{q(x)}{p(x)}\,f(x)\Big]")
st.markdown(
    "The identity is exact, but an *estimate* from a finite batch is only as good as its weights. "
    "Here p = N(0, 1) plays the policy that collected the data and q = N(shift, 1) the policy we "
    "are evaluating; f(x) = x, so the right answer is the shift itself. Each estimate averages "
    "200 weighted samples from p, and we repeat it 200 times to see how much it scatters. For two "
    "unit Gaussians the weight is $w(x) = e^{s x - s^2/2}$ (s: the shift), and the variance of one estimate has a "
    "closed form, which we set beside the variance of the 200 estimates:"
)
st.latex(r"\operatorname{Var}\Big[\tfrac{1}{n}\textstyle\sum_i w(x_i)\,x_i\Big] = \frac{\mathbb{E}_p[w^2x^2] - s^2}{n} = \frac{e^{s^2}(1 + 4s^2) - s^2}{n},\qquad n = 200")
sweep = variance_sweep()
exact, sampled = sweep.set_index("shift")[EXACT], sweep.set_index("shift")[SAMPLED]
predict_then_reveal(
    "loop_is",
    "In the experiment below, q moves from shift 1 to shift 2, twice as far from p. "
    "What happens to the variance of the estimate?",
    ["About ×2", "About ×4", "Far more than ×4", "It shrinks: the estimate is unbiased"],
    "Far more than ×4",
    f"Here the exact variance goes from {exact[1.0]:.3g} to {exact[2.0]:.3g}, about ×{exact[2.0] / exact[1.0]:.0f} "
    f"(the 200 sampled estimates: {sampled[1.0]:.3g} and {sampled[2.0]:.3g}). "
    "For two unit Gaussians the second moment of the weight is $e^{s^2}$, so each step away "
    "multiplies the variance by more than the last one. Unbiased is not the same as usable: that is "
    "why PPO keeps $\\pi_\\theta$ close to the $\\pi_{\\theta_k}$ that collected the batch.",
)
shift = control(Param("is_shift", 0.5, "float", 0.0, 3.0, step=0.25), "Shift of q away from p")
result = importance_sampling(shift)
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("true value E_q[x]", f"{result['true_value']:.2f}")
m2.metric("mean of the 200 estimates", f"{result['mean_estimate']:.3f}")
m3.metric("exact variance", f"{result['analytic_variance']:.3g}", help="from the formula: (exp(s²)·(1 + 4s²) − s²) / 200")
m4.metric("sampled variance", f"{result['sampled_variance']:.3g}", help="the variance of the 200 estimates in the histogram")
m5.metric("largest weight's share", f"{result['max_weight_share']:.1%}", help="the largest of one batch's 200 weights, as a share of their sum")

left, right = st.columns(2)
with left:
    weights = pd.DataFrame({"x": result["samples"], "weight": result["weights"]})
    show_chart(points_chart(weights, "x", "weight", x_title="sample x drawn from p", y_title="importance weight q(x)/p(x)"))
    st.caption(
        "The 200 samples of one batch and their weights. At shift 0 every weight is 1. Move the "
        "slider: the weights of the few samples in q's direction shoot up, and the estimate leans "
        "on a handful of points (the share metric above)."
    )
with right:
    show_chart(
        histogram_chart(result["estimates"], x_title="estimate of E_q[x] from one batch", y_title="number of batches", rule=result["true_value"], rule_label="true value")
    )
    st.caption(
        "Where the 200 repeated estimates land. They centre on the true value (importance sampling "
        "is unbiased), but look at the spread: it widens fast as q moves away from p."
    )

show_chart(
    log_scale_chart(sweep, "shift", [EXACT, SAMPLED], x_title="shift of q away from p", y_title="variance (log scale)", highlight=shift, height=320)
)
at_3 = sweep.set_index("shift").loc[3.0]
st.caption(
    "The variance of an estimate at every shift, on a logarithmic axis; the red points are the "
    "slider's shift. The exact curve, from the formula, bends upward even on a log scale: it grows "
    "like $e^{s^2}$, faster than exponentially in the distance between the two distributions. "
    "The sampled curve, the variance of the 200 estimates, follows it near p and then falls "
    f"behind ({at_3[SAMPLED]:,.0f} against {at_3[EXACT]:,.0f} at shift 3): most of the variance "
    "comes from rare samples with huge weights, which 200 batches seldom draw. A spread that looks "
    "tame in a sample is no proof that the estimate is."
)

st.header("Why PPO keeps the ratio near 1")
st.markdown(
    r"In PPO the samples are the pairs (s_t, a_t) collected by the old policy $\pi_{\theta_k}$, and the "
    "importance weight of a sample is the **probability ratio** r_t(θ). Weighting the advantage "
    r"estimates Â_t by it gives the surrogate objective. At $\theta = \theta_k$ every ratio is 1, and since ∇r = r ∇log π, the "
    "surrogate's gradient there is exactly ĝ:"
)
st.latex(
    r"r_t(\theta) = \frac{\pi_\theta(a_t|s_t)}{\pi_{\theta_k}(a_t|s_t)},\qquad "
    r"L(\theta) = \hat{\mathbb{E}}_t\big[r_t(\theta)\,\hat A_t\big],\qquad "
    r"\nabla_\theta L(\theta)\big|_{\theta=\theta_k} = \hat g"
)
st.markdown(
    r"Several epochs on one batch move θ away from $\theta_k$, and the ratios become the weights of the "
    "experiment above. A little movement is harmless. Far from 1, a few samples dominate, the "
    "surrogate's value is mostly noise, and an optimiser will happily climb that noise: the batch "
    "says nothing reliable about a policy that different. So PPO improves L while stopping each "
    "ratio from wandering beyond [1 − ε, 1 + ε], which page 4 takes apart."
)
st.markdown(
    "**TRPO**, PPO's predecessor, enforces the same idea as a hard constraint: maximise the "
    "surrogate subject to the average KL divergence between the old and new action distributions "
    "staying below a small δ. Solving that needs second-order machinery (the Fisher matrix through "
    "conjugate gradients, then a line search). PPO reaches a similar trust region with first-order "
    "steps only, by clipping the ratio or by subtracting a KL penalty."
)
st.latex(
    r"\max_\theta\; \hat{\mathbb{E}}_t\big[r_t(\theta)\,\hat A_t\big]\quad\text{subject to}\quad"
    r"\hat{\mathbb{E}}_t\big[\mathrm{KL}[\pi_{\theta_k}(\cdot|s_t),\,\pi_\theta(\cdot|s_t)]\big] \le \delta"
)
