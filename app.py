"""PPO, step by step: the entry point. `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="PPO, step by step", page_icon="🎯", layout="wide")
st.title("PPO, step by step")
st.write("The lesson pages arrive with the next issue; `ppo_core` already trains every preset.")
