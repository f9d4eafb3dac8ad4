"""Widgets every lesson page shares."""

from __future__ import annotations

import streamlit as st


def predict_then_reveal(key: str, question: str, options: list[str], answer: str, explanation: str) -> None:
    """A question the student answers before the explanation opens.

    The choice is kept in session state under ``predict/<key>``; the explanation (and whether
    the prediction was right) appears only once an option is chosen.
    """
    with st.container(border=True):
        st.markdown(f"**Predict, then reveal.** {question}")
        choice = st.radio("Your prediction", options, index=None, key=f"predict/{key}", label_visibility="collapsed")
        if choice is None:
            st.caption("Choose an answer to reveal the explanation.")
            return
        if choice == answer:
            st.success(f"Right: {answer}")
        else:
            st.warning(f"Not quite: the answer is {answer}")
        st.markdown(explanation)



def show_chart(chart, **kwargs) -> None:
    """Draw a chart from ui.charts: an Altair chart, or a Vega-Lite spec dict (the clip plot)."""
    if isinstance(chart, dict):
        st.vega_lite_chart(chart, width="stretch", **kwargs)
    else:
        st.altair_chart(chart, width="stretch", **kwargs)
