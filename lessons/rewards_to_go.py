"""2 · Rewards-to-go: R̂_t computed backwards over a short real rollout, with the three ways a
row's tail is closed: termination (nothing), a time limit (V of the final observation), and the
end of the batch (V of the next observation)."""

import pandas as pd
import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS
from ppo_core.lesson import (
    rewards_to_go_table,
)
from ui.charts import step_chart
from ui.links import Param
from views.lesson_data import TABLE_ROWS as NUM_STEPS, TABLE_TIME_LIMIT, table_rollout
from views.widgets import predict_then_reveal, show_chart
from views.lesson_controls import control, env_and_seed
from views.lesson_tables import backward_pass, episode_marks, rewards_to_go_view, show_table

RTG_PRESETS = ["cartpole", "pendulum-discrete"]
CASE_NOTES = {
    "cartpole": (
        f"CartPole ends when the pole falls: a **termination**. For this table its time limit is "
        f"{TABLE_TIME_LIMIT['cartpole']} steps instead of 500, so that a **time-limit cut** fits in "
        f"{NUM_STEPS} rows too; the table starts at the first stretch of the rollout where both "
        f"appear before the **batch ends**."
    ),
    "pendulum-discrete": "Pendulum never falls over; its episodes are **cut by a 200-step time limit**, and the batch cuts the next one.",
}


def preset_gamma() -> float:
    return PRESETS[st.session_state["rtg_env"]].gamma


def reset_gamma() -> None:
    st.session_state["rtg_gamma"] = preset_gamma()


st.title("2 · Rewards-to-go")
st.markdown(
    "Once a batch is collected, each step needs a number that says how well things went *from "
    "that step on*: the discounted sum of the rewards that followed, the **reward-to-go** R̂_t. "
    "γ < 1 makes rewards count less the further away they are. Written as a recursion, each R̂_t "
    "needs the one after it, so the computation runs **backwards**, from the last row of the batch "
    "to the first. The value network V_φ is trained to predict exactly these numbers."
)
st.latex(r"\hat R_t = r_t + \gamma\, r_{t+1} + \gamma^2 r_{t+2} + \cdots = r_t + \gamma\, \hat R_{t+1}")
st.markdown(
    "The recursion needs something to stand in for whatever comes after a row when the table does "
    "not continue the same episode. There are three cases, and CartPole's table below shows all "
    "three (Pendulum, which never falls, shows the last two):"
)
st.latex(
    r"\hat R_t = r_t + \gamma \cdot \begin{cases}"
    r"0 & \text{the episode terminated after step } t \text{ (nothing follows)}\\"
    r"V_\phi(s^{\text{final}}_{t+1}) & \text{a time limit cut the episode (it would have gone on)}\\"
    r"V_\phi(s_T) & t = T-1 \text{ and the batch ends mid-episode}\\"
    r"\hat R_{t+1} & \text{otherwise}"
    r"\end{cases}"
)

predict_then_reveal(
    "rtg",
    "On CartPole every step earns r = +1. What is R̂_t on the row where the pole fell "
    "(the episode terminated after that step), whatever γ is?",
    ["Exactly 1", "1 + γ·V(final observation)", "1/(1 − γ)", "The R̂ of the next row"],
    "Exactly 1",
    "Termination means no future at all, so nothing is added after the last reward: R̂_t = r_t = 1. "
    "Check it in the table with the CartPole environment, at any γ. The next row starts a new "
    "episode and its R̂ has nothing to do with the one that ended. A time-limit cut is different: "
    "the state was not terminal, so the row adds γ·V of the observation it was cut at.",
)

c1, c2, c3 = st.columns(3)
# Each control is kept in the URL (ui.links), declared once by its Param.
preset, seed = env_and_seed("rtg", RTG_PRESETS, c1, c2, on_change=reset_gamma)
gamma = control(
    Param("rtg_gamma", preset_gamma, "float", 0.0, 1.0, step=0.01),  # default: the environment's preset γ
    "Discount γ", where=c3, help="Starts at the preset's γ, the one the critic was trained with.",
)
computed = control(
    Param("rtg_computed", NUM_STEPS, "int", 0, NUM_STEPS), "Backward pass: rows computed, from the end",
    help="Step through the backward pass; rows not yet computed are empty.",
)
rollout = table_rollout(preset, seed)
table = backward_pass(rewards_to_go_table(rollout, gamma), computed)  # rows not yet reached: NaN
note = ENVIRONMENTS[PRESETS[preset].env_id].reward_note
st.caption(CASE_NOTES[preset] + (f" Here the {note}." if note else "") + " Where each case falls: \"In this table\" below.")
current = NUM_STEPS - computed  # the row the backward pass filled last (NUM_STEPS: none yet)

shown, config = rewards_to_go_view(table, current)
show_table(shown, column_config=config, key="rtg_table", placeholder="")  # placeholder: unreached rows stay empty

if computed == 0:
    st.info("Move the step-through slider to start the backward pass at the last row.")
else:
    row = table.iloc[current]
    source = {
        "terminated": r"0",
        "truncated": r"V_\phi(s^{\text{final}})",
        "batch_end": r"V_\phi(s_T)",
    }.get(row["bootstrap"], rf"\hat R_{{{current + 1}}}")
    following = f"{row['next_value']:.3f}" if row["next_value"] >= 0 else f"({row['next_value']:.3f})"
    st.latex(
        rf"\hat R_{{{current}}} = r_{{{current}}} + \gamma \cdot {source}"
        rf" = {row['reward']:.3f} + {gamma:.2f} \times {following} = {row['rewards_to_go']:.3f}"
    )

episode, events = episode_marks(table)  # the R̂ line breaks where an episode ended
chart_df = pd.DataFrame({"t": table["t"], "reward r_t": table["reward"], "reward-to-go R̂_t": table["rewards_to_go"], "episode": episode})
show_chart(
    step_chart(
        chart_df,
        "t",
        bars=["reward r_t"],
        lines=["reward-to-go R̂_t"],
        x_title="time step t",
        y_title="reward / reward-to-go",
        segment="episode",
        events=events,
    )
)
st.caption(
    "Bars are the rewards, the line is R̂ as far as the backward pass has got (it grows from the "
    "right as you move the slider), and a dashed rule marks where an episode ended. Look at the row "
    "just before a rule: after a termination R̂ drops to the bare reward, after a time limit it "
    "keeps the critic's estimate of the rest, and the last row leans on V(s_T)."
)

st.header("In this table")
terminated_rows = table["t"][table["terminated"]].tolist()
truncated_rows = table["t"][table["truncated"]].tolist()
last = table.iloc[-1]
notes = []
if terminated_rows:
    notes.append(
        f"- **Termination** after step {', '.join(map(str, terminated_rows))}: the episode is over in the "
        "environment itself, so nothing is added after the reward; R̂ there is just r_t."
    )
if truncated_rows:
    values = ", ".join(f"{v:.3f}" for v in table["bootstrap_value"][table["truncated"]])
    notes.append(
        f"- **Time limit** after step {', '.join(map(str, truncated_rows))}: the episode would have "
        f"gone on (the {'pole was still up' if preset == 'cartpole' else 'pendulum kept swinging'}), "
        f"so the row bootstraps from the critic's value of the observation it was cut "
        f"at (V = {values}). Treating it as a termination would teach V that time itself is deadly."
    )
if last["bootstrap"] == "batch_end":
    notes.append(
        f"- **End of the batch** after step {int(last['t'])}: the episode goes on in the next batch, so "
        f"the last row bootstraps from V(s_T) = {last['bootstrap_value']:.3f}, the critic's value of "
        "the observation that comes next."
    )
if not (terminated_rows or truncated_rows):
    notes.append("- No episode ended inside these rows with this seed; try another seed to see one.")
st.markdown("\n".join(notes))

