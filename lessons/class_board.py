"""Class board: the teacher's live view of a class (opened with the teacher link).

Every student's return curve coloured by the setting the assignment varies, the class's sweep
with the median per value, the runs counted by status, the predict answers tallied, and one
run's detail; redrawn every second from the run store (views/board.py, ui/board.py).
"""

import streamlit as st

from views import board

st.title("Class board")
board.show()
