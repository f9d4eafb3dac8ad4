"""3 · Advantages: A = R̂ − V with the critic's V, the TD error δ_t, GAE(γ, λ) between them, and
what normalising the advantages does to their signs, on a real rollout."""

import pandas as pd
import streamlit as st

from ppo_core import PRESETS
from ppo_core.lesson import (
    advantage_table,
    gae_limits,
)
from ui.charts import step_chart
from ui.links import Param
from views.lesson_data import TABLE_ROWS as NUM_STEPS, TABLE_WARMUP, table_rollout
from views.widgets import predict_then_reveal, show_chart
from views.lesson_controls import control, env_and_seed
from views.lesson_tables import advantages_view, episode_marks, show_table

ADV_PRESETS = ["cartpole", "pendulum-discrete"]
WARMUP_CHOICES = [0, 2, 5, 10]  # PPO updates before the rollout: how much the critic has learnt


def reset_discounts() -> None:
    cfg = PRESETS[st.session_state["adv_env"]]
    st.session_state["adv_gamma"] = cfg.gamma
    st.session_state["adv_lambda"] = cfg.gae_lambda


st.title("3 · Advantages")
st.markdown(
    "The policy gradient needs to know, for each action in the batch, whether it turned out "
    "**better or worse than expected**. The critic V_φ(s_t) is the expectation; the reward-to-go "
    "R̂_t is what actually happened. Their difference is the advantage: positive means the "
    "action beat the critic's forecast, and the update will make it more likely."
)
st.latex(r"\hat A_t = \hat R_t - V_\phi(s_t)")
st.markdown(
    "R̂_t sums many random rewards, so this estimate is unbiased but noisy. At the other extreme, "
    "the **TD error** looks one step ahead and trusts the critic for the rest: low noise, but "
    "biased by whatever the critic gets wrong. **GAE** blends the two with a weight λ: an "
    "exponentially weighted sum of TD errors. λ = 0 is the TD error alone, λ = 1 adds them all "
    "up and gives back R̂_t − V(s_t)."
)
st.latex(
    r"\delta_t = r_t + \gamma (1-d_t)\, V_\phi(s_{t+1}) - V_\phi(s_t),\qquad "
    r"\hat A^{\mathrm{GAE}(\gamma,\lambda)}_t = \delta_t + \gamma\lambda (1-d_t)\, \hat A_{t+1}"
    r"= \sum_{l\ge 0} (\gamma\lambda)^l\, \delta_{t+l}"
)
st.caption(
    "d_t = 1 where the episode ended after step t. As on the rewards-to-go page, a time-limit cut "
    "adds γ·V(final observation) to its reward, and the batch's last row uses V(s_T)."
)

predict_then_reveal(
    "adv_norm",
    "PPO normalises advantages per minibatch: subtract the mean, divide by the standard deviation. "
    "Which rows can change sign?",
    [
        "None: dividing by a positive number keeps every sign",
        "Those whose advantage lies between 0 and the mean",
        "All rows with a negative advantage",
        "Only the rows where an episode ended",
    ],
    "Those whose advantage lies between 0 and the mean",
    "Dividing by the standard deviation keeps signs, but subtracting the mean does not: an action "
    "that was better than expected, but less so than the batch's average, ends up negative and is "
    "made *less* likely. PPO accepts this: after centring, the actions better than the batch's "
    "average are pushed up and the rest down, and dividing by the spread keeps the step's size "
    "steady whatever the scale of the rewards. Turn normalisation on and look for the flagged rows.",
)

c1, c2, c3 = st.columns(3)
# Each control is kept in the URL (ui.links), declared once by its Param; γ and λ default to the
# environment's preset values.
preset, seed = env_and_seed("adv", ADV_PRESETS, c1, c2, on_change=reset_discounts)  # seed 0: the rewards-to-go page's rollout; normalising flips 3 signs on it
warmup = control(
    Param("adv_warmup", TABLE_WARMUP, "choice", choices=WARMUP_CHOICES), "Critic training (PPO updates before the rollout)", "select_slider",
    where=c3, help="0: an untrained critic, whose V is close to 0 everywhere",
)
c4, c5, c6 = st.columns(3)
gamma = control(Param("adv_gamma", lambda: PRESETS[st.session_state["adv_env"]].gamma, "float", 0.0, 1.0, step=0.01), "Discount γ", where=c4)
lam = control(
    Param("adv_lambda", lambda: PRESETS[st.session_state["adv_env"]].gae_lambda, "float", 0.0, 1.0, step=0.01), "GAE λ",
    where=c5, help="0: the TD error δ_t; 1: R̂_t − V(s_t)",
)
normalize = control(
    Param("adv_normalize", False, "bool"), "Normalise advantages", where=c6, help="(A − mean A) / std A over these rows, as PPO does per minibatch"
)

rollout = table_rollout(preset, seed, warmup)  # at the defaults: the rewards-to-go page's rows
table = pd.DataFrame(advantage_table(rollout, gamma, lam, normalize=normalize))
shown, config = advantages_view(table, lam, normalize)
show_table(shown, column_config=config, key="adv_table")

limits = gae_limits(rollout, gamma)
m1, m2 = st.columns(2)
m1.metric(
    "GAE at λ = 0 vs the TD error δ_t",
    "agree" if limits["lambda0_agree"] else "differ",
    help="computed on these rows at the γ above",
)
m1.caption(f"largest difference over the {NUM_STEPS} rows: {limits['lambda0_max_diff']:.1e}")
m2.metric(
    "GAE at λ = 1 vs R̂_t − V(s_t)",
    "agree" if limits["lambda1_agree"] else "differ",
    help="computed on these rows at the γ above",
)
m2.caption(f"largest difference over the {NUM_STEPS} rows: {limits['lambda1_max_diff']:.1e}")

episode, events = episode_marks(table)  # the lines break at episode ends

left, right = st.columns(2)
with left:
    fit = pd.DataFrame(
        {
            "t": table["t"],
            "critic V(s_t)": table["value"],
            "reward-to-go R̂_t": table["rewards_to_go"],
            "episode": episode,
        }
    )
    show_chart(
        step_chart(
            fit, "t", bars=[], lines=["critic V(s_t)", "reward-to-go R̂_t"], x_title="time step t", y_title="return",
            segment="episode", events=events,
        )
    )
    st.caption(
        "What the critic expected (V) against what happened (R̂). The gap between the two lines is "
        "R̂ − V, the λ = 1 advantage. Set the critic training to 0 and V flattens near zero: every "
        "advantage is then just R̂ and says nothing about the action."
    )
with right:
    adv_df = pd.DataFrame(
        {
            "t": table["t"],
            "GAE A_t": table["gae"],
            "δ_t": table["td_error"],
            "R̂_t − V(s_t)": table["rtg_minus_value"],
            "normalised A_t": table["normalized"],
            "episode": episode,
        }
    )
    lines = ["δ_t", "R̂_t − V(s_t)"] + (["normalised A_t"] if normalize else [])
    show_chart(
        step_chart(
            adv_df, "t", bars=["GAE A_t"], lines=lines, x_title="time step t", y_title="advantage",
            segment="episode", events=events,
        )
    )
    st.caption(
        "Bars are the GAE advantages at the λ above; the two lines are its limits. Drag λ to 0 and "
        "the bars sit on the δ line, drag it to 1 and they sit on the R̂ − V line. In between, each "
        "bar mixes the one-step surprise with the longer-run ones that follow it. With normalisation "
        "on, a third line shows the normalised advantages: where a point sits on the other side of "
        "zero from its bar, the sign flipped."
    )

if normalize:
    flipped = table["t"][table["sign_flipped"]].tolist()
    mean = float(table["gae"].mean())
    if flipped:
        st.warning(
            f"Normalisation flipped the sign of row(s) {', '.join(map(str, flipped))}: their advantage lies "
            f"between 0 and the mean of these rows ({mean:+.3f}), so subtracting the mean moves them across zero. "
            "The update will now push those actions' probabilities the other way."
        )
    else:
        st.info(f"No sign changed: no advantage here lies between 0 and the mean of these rows ({mean:+.3f}).")

