"""Home: the PPO loop as the "PPO from scratch" notebook's pseudocode, each line linking to the page that teaches it."""

import streamlit as st

from ui.pages import LESSONS, PSEUDOCODE, QUESTIONS
from views.widgets import predictions

st.title("PPO, step by step")
st.markdown(
    "Proximal Policy Optimization improves a policy from its own experience, a batch at a time, "
    "while keeping each new policy close to the one that collected the batch. "
    "Below is the whole algorithm in eight lines. Each line links to the page that takes it apart "
    "on real numbers, computed by the same code that trains the agents."
)
titles = {p.path: p.title for p in LESSONS}
with st.container(border=True):
    for i, (line, page) in enumerate(PSEUDOCODE, start=1):
        indent = "&emsp;&emsp;" if 2 < i < 8 else ""
        text, link = st.columns([0.64, 0.36], vertical_alignment="center")
        text.markdown(f"{indent}**{i}.** {line}")
        if page:
            link.page_link(page, label=titles[page])
answers = {key: record for key, record in predictions().items() if key in QUESTIONS}
right = sum(record["correct"] for record in answers.values())
st.progress(
    len(answers) / len(QUESTIONS),
    text=f"Predict, then reveal: {len(answers)} of {len(QUESTIONS)} answered"
    + (f", {right} right at the first try" if answers else " (one question on each page)"),
)
st.caption("Pseudocode after the \"PPO from scratch\" notebook, which follows OpenAI Spinning Up.")
st.page_link("lessons/training.py", label="Then watch the whole loop run: 6 · Live training", icon=":material/rocket_launch:")
