"""The class board's page parts: the teacher's key, then the live board, redrawn every second.

Opened with the teacher link, ``?class=<id>&key=<teacher key>``. Nothing of the class is shown
until the store confirms the key (runs.store.RunStore.check_teacher_key). The class and the key
are then kept in this session only: the app rewrites the address bar after every page, and the
key leaves it, so a projected address bar does not show it to the room.

The board reads the run store alone, never the workers, so watching it costs the students'
training nothing but a few queries a second (ui.board). Everything a person typed (the class
name, display names) is shown as plain text: in st.text, tables, chart labels and selectbox
options, never in Markdown.
"""

from __future__ import annotations

import json

import streamlit as st

from runs.manager import get_store
from runs.store import RunStore
from ui import board as ui_board
from ui.board import MAIN_COUNTS, OTHER_COUNTS, PICK, REACHED, Board, CurveReader
from ui.charts import return_curves_chart
from views.links import presenter_mode
from views.widgets import show_chart

REDRAW_EVERY_S = 1.0
CLASS_PARAM, KEY_PARAM = "class", "key"
_CLASS, _KEY = "board_class", "board_key"  # session_state: the class this session may watch, and its key
RUN_KEY = "board_run"  # session_state: the run whose detail is open
_LAST_CLICK = "board_last_click"  # session_state: the run the curves' selection held at the last redraw
COUNT_NAMES = {"running": "Training", "queued": "Waiting for a core", REACHED: "Reached the target", "failed": "Failed",
               "paused": "paused", "finished": "finished", "stopped": "stopped", "diverged": "diverged",
               "interrupted": "interrupted"}
NO_ACCESS = (
    "This board is for the class's teacher: open it with the teacher link that the Class page gave "
    "when the class was created (it ends in ?class=…&key=…). The link's class and key do not match "
    "a class here, so nothing of any class is shown."
)


@st.cache_resource(show_spinner=False)
def _reader() -> CurveReader:
    """One curve reader for the server: each record is parsed once, whichever board reads it."""
    return CurveReader()


def credentials(store: RunStore) -> str | None:
    """The class this session may watch: the link's (when its key is the class's teacher key),
    else the one this session opened before; None with a message when there is none."""
    raw_class, raw_key = st.query_params.get(CLASS_PARAM), st.query_params.get(KEY_PARAM)
    if raw_class is not None or raw_key is not None:
        st.session_state.pop(_CLASS, None)
        st.session_state.pop(_KEY, None)
        if raw_class and raw_key and store.check_teacher_key(raw_class, raw_key):
            st.session_state[_CLASS], st.session_state[_KEY] = raw_class, raw_key
    class_id, key = st.session_state.get(_CLASS), st.session_state.get(_KEY)
    if class_id is None or not store.check_teacher_key(class_id, key):  # checked again: a class may be purged
        st.error(NO_ACCESS, icon=":material/lock:")
        return None
    return class_id


def show() -> None:
    """The board of the teacher's class, or the message saying why not."""
    store = get_store()
    class_id = credentials(store)
    if class_id is None:
        return
    info = store.class_info(class_id)
    st.text(f"Class: {info.name}")
    st.caption("The teacher key was taken from the address bar and is kept in this tab only: keep "
               "your teacher link to open the board again.")
    assignments = store.assignments_of(class_id)
    assignment_id = None
    if len(assignments) > 1:
        assignment_id = st.selectbox(
            "Assignment", [a.id for a in reversed(assignments)], key="board_assignment",
            format_func=lambda a_id: _assignment_name(next(a for a in assignments if a.id == a_id)),
        )
    chosen = ui_board.pick_assignment(assignments, assignment_id)
    setting = None
    if chosen is not None and len(chosen.varied) > 1:
        setting = st.selectbox("Colour and sweep by", list(chosen.varied), key="board_setting", format_func=ui_board.setting_title)
    st.fragment(_live, run_every=REDRAW_EVERY_S)(store, class_id, assignment_id, setting)


def _assignment_name(a) -> str:
    varied = ", ".join(ui_board.setting_title(k) for k in a.varied) or "nothing"
    return f"{a.preset}, students vary {varied} ({a.created_at:%H:%M} UTC)"


def _live(store: RunStore, class_id: str, assignment_id: str | None, setting: str | None) -> None:
    board = ui_board.board_data(store, class_id, assignment_id=assignment_id, setting=setting, reader=_reader())
    join, students, runs = st.columns(3)
    join.metric("Join code", board.class_info.join_code + (" (closed)" if board.class_info.closed else ""))
    students.metric("Students", board.students)
    runs.metric("Runs", len(board.runs))
    _counts(board)
    if board.assignment is None:
        st.info("The class has no assignment yet: the runs its students start are shown by student.")
    if not board.runs:
        st.info("No run yet: the board fills in as the students press Start.")
        return

    st.subheader("Return curves")
    picked = st.session_state.get(RUN_KEY)
    event = show_chart(ui_board.curves_chart(board, picked), on_select="rerun", selection_mode=PICK, key="board_curves")
    clicked = _clicked(event)
    # A click opens its run once: the chart keeps its selection on later redraws, and a run
    # chosen in the list afterwards must not be overruled by that old click.
    if clicked != st.session_state.get(_LAST_CLICK):
        st.session_state[_LAST_CLICK] = clicked
        if clicked and board.run(clicked) is not None and clicked != picked:
            st.session_state[RUN_KEY] = clicked
            st.rerun(scope="fragment")  # the run list and the thick curve follow at once

    st.subheader("The sweep")
    if len(board.sweep):
        show_chart(ui_board.sweep_chart(board))
        if not presenter_mode():
            st.caption("A dot per run that reached the target (steps to get there) or ended without it "
                       "(its final return); the black tick is the median per value. Runs still training "
                       "appear once they reach the target or end.")
    else:
        st.info("No run has reached the target or ended yet.")

    st.subheader("Predict, then reveal: the room's answers")
    if len(board.answers):
        st.dataframe(board.answers[["page", "answer", "students", "correct"]], hide_index=True, width="stretch")
    else:
        st.info("No student has answered a predict question yet.")

    _detail(board)


def _clicked(event) -> str | None:
    """The run id a click on the curves selected, if any."""
    try:
        points = event.selection[PICK]
    except (AttributeError, KeyError, TypeError):
        return None
    if isinstance(points, list) and points and isinstance(points[0], dict):
        return points[0].get("run_id")
    return None


def _counts(board: Board) -> None:
    cols = st.columns(len(MAIN_COUNTS))
    for col, status in zip(cols, MAIN_COUNTS):
        col.metric(COUNT_NAMES[status], board.counts[status])
    st.text(" · ".join(f"{COUNT_NAMES[s]} {board.counts[s]}" for s in OTHER_COUNTS))


def _detail(board: Board) -> None:
    """One run: a click on its curve, or its name in the list, opens its curve and config."""
    st.subheader("One run")
    ids = [r.id for r in board.runs]
    if st.session_state.get(RUN_KEY) not in ids:
        st.session_state[RUN_KEY] = None
    run_id = st.selectbox("Run (or click a curve above)", ids, key=RUN_KEY, placeholder="Choose a run",
                          format_func=lambda rid: ui_board.run_label(board.run(rid), board))
    run = board.run(run_id) if run_id else None
    if run is None:
        return
    lines = [f"Student: {run.student}", f"Status: {run.status}" + (f" ({run.message})" if run.message else "")]
    if board.setting:
        lines.append(f"{board.setting_title}: {run.value_label}")
    if run.steps_to_target is not None:
        lines.append(f"Reached the target {board.target:g} after {run.steps_to_target:,} steps" if board.target is not None
                     else f"Reached the target after {run.steps_to_target:,} steps")
    if run.final_return is not None:
        lines.append(f"Return (mean of the last 20 episodes): {run.final_return:.1f}")
    st.text("\n".join(lines))
    curve = board.curves[board.curves["run_id"] == run.id].assign(run=run.student)
    if len(curve):
        show_chart(return_curves_chart(curve, board.target, height=260))
    st.code(json.dumps(run.config, indent=2), language="json")
