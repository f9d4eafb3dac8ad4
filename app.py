"""PPO, step by step: the entry point. `streamlit run app.py`."""

import streamlit as st

from ui.pages import HOME, LESSONS

st.set_page_config(page_title="PPO, step by step", page_icon="🎯", layout="wide")

pages = [st.Page(HOME.path, title=HOME.title, url_path=HOME.url_path, icon=HOME.icon, default=True)] + [
    st.Page(p.path, title=p.title, url_path=p.url_path, icon=p.icon) for p in LESSONS
]
st.navigation({"Start": pages[:1], "The lesson": pages[1:]}).run()
