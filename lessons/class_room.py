"""7 · Class: a teacher's class with a join code and an assignment; a student joins it.

The page is thin: views/classroom.py holds the logic (the teacher key's checks, the assignment,
joining), and the training page reads the assignment from there.
"""

from __future__ import annotations

import streamlit as st

from views import classroom

st.title("Class")
st.markdown(
    "One class, one question: each student trains the same preset with their own value of the "
    "setting the assignment varies, and the room compares the curves. The teacher creates the "
    "class and sets the assignment; students join with the code on the teacher's screen."
)
classroom.page()
