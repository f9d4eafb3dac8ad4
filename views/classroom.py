"""The Class page's logic: a teacher's class and assignment, a student's joining, and what the
training page needs of them.

A teacher creates a class and gets its join code (shown large, for the projector) and a teacher
link, ``/class?class=<id>&key=<key>``. The key is the only proof of being the teacher: it is kept
in the session and in the Class page's own URL (views.links.keep_private), never in the "link to
this view", in a student's links, or on a student's screen. Every teacher action checks it again
(:func:`require_teacher`, which the class board uses too).

An assignment (runs.store.create_assignment) is a preset, the settings students choose, each
with the values the class spreads over (``{"clip_coef": [0.1, 0.2, 0.3]}``; an empty list: any
allowed value), the settings everyone keeps at the preset's value, and an optional step budget
(the run's ``total_steps``). :func:`assignment_config` builds a student's run from it, so the
fixed values hold whatever the page's widgets say.

Nothing a person typed (a class name, a display name, a code) is shown as Markdown: names go to
``st.text`` and tables, a typed value inside a message is quoted in a code span (ui.links).
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS, PPOConfig
from ppo_core.config import BoundSetting
from runs.manager import get_store
from runs.store import DISPLAY_NAME_MAX, AssignmentRow, ClassRow, StudentRow, clean_display_name, normalize_join_code
from ui.links import code_span, shown_text
from views import links, session, training_controls

log = logging.getLogger(__name__)

CLASS_PARAM, KEY_PARAM = "class", "key"  # the teacher link's query parameters
TEACHER = "class_teacher"  # session_state: (class_id, key) once the key was checked
FLASH = "class_flash"  # session_state: (kind, message) left by a callback for the next draw
ASSIGNMENT = "class_assignment"  # session_state: the student's current AssignmentRow (or None)
PAGE_PATH = "lessons/class_room.py"
BUDGET_SETTING = "total_steps"  # set by the assignment's step budget, never chosen alone


# -- the teacher's key -----------------------------------------------------------------------------
def require_teacher(class_id: str | None, key: str | None, show: bool = True) -> bool:
    """Whether ``key`` is the teacher key of class ``class_id``. If not (and ``show``), an error
    says so here and that nothing was changed. The key itself is never shown."""
    store = get_store()
    known = isinstance(class_id, str) and store.class_info(class_id) is not None
    if known and isinstance(key, str) and store.check_teacher_key(class_id, key):
        return True
    if show:
        if not known:
            st.error(f"No class has the id {code_span(shown_text(str(class_id)))}: nothing was changed. "
                     "Open the teacher link you got when you created the class.")
        else:
            st.error("This teacher key does not open the class: nothing was changed. "
                     "Only the teacher link you got when you created the class can open, set or close it.")
    return False


def teacher_class() -> tuple[str, str] | None:
    """This session's class as its teacher (id, key): from the session, or from the Class page's
    URL (``?class=&key=``, checked; a wrong key gets the message of :func:`require_teacher`)."""
    raw_id, raw_key = links.read_private(CLASS_PARAM), links.read_private(KEY_PARAM)
    held = st.session_state.get(TEACHER)
    if raw_id is not None and (held is None or (raw_id, raw_key) != held):
        if require_teacher(raw_id, raw_key):
            held = st.session_state[TEACHER] = (raw_id, raw_key)
        elif held is not None:
            st.info("This session still teaches its own class, shown below.")
    return held


def teacher_link(class_id: str, key: str, page: str = "class") -> str:
    """A teacher's page (the Class page, or the class board: ``page="board"``) with the class
    and its key: the teacher's way back in."""
    from urllib.parse import urlencode

    try:
        base = (st.context.url or "").rstrip("/")
    except Exception:  # noqa: BLE001 - no browser context (tests)
        base = ""
    base = base.removesuffix("/class")  # st.context.url ends with the current page's path
    return f"{base}/{page}?" + urlencode({CLASS_PARAM: class_id, KEY_PARAM: key})


# -- assignments (no Streamlit) --------------------------------------------------------------------
def assignable(preset: str) -> dict[str, BoundSetting]:
    """The settings a teacher may let students choose: the training page's, but the budget."""
    return {n: s for n, s in training_controls.page_settings(type(PRESETS[preset])).items() if n != BUDGET_SETTING}


def parse_values(preset: str, name: str, text: str) -> list:
    """The values to try that a teacher typed for one setting ("0.1, 0.2, 0.3"; empty: any
    allowed value), each checked by PPOConfig; ValueError naming the setting and its range."""
    s = assignable(preset)[name]
    out = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        if s.choices is not None:
            value = part
        else:
            try:
                value = int(part) if s.kind == "int" else float(part)
            except ValueError:
                raise ValueError(f"{s.title}: {part!r} is not {'a whole number' if s.kind == 'int' else 'a number'}; "
                                 f"allowed: {s.allowed()}") from None
        try:
            PRESETS[preset].replace(**{name: value})
        except ValueError as exc:
            raise ValueError(f"{s.title}: {exc}") from None
        if value not in out:
            out.append(value)
    return out


def fixed_values(preset: str, varied: dict) -> dict:
    """What an assignment fixes: every other setting of the page at the preset's value."""
    base = PRESETS[preset]
    return {n: getattr(base, n) for n in assignable(preset) if n not in varied}


def assignment_config(assignment: AssignmentRow, chosen: dict) -> PPOConfig:
    """A student's run for ``assignment``: the preset, the fixed values, the step budget and the
    student's ``chosen`` values of the varied settings (others are refused: ValueError)."""
    extra = set(chosen) - set(assignment.varied)
    if extra:
        raise ValueError(f"{', '.join(sorted(extra))}: fixed by the assignment")
    for name, value in chosen.items():
        allowed = assignment.varied[name]
        if allowed and value not in allowed:
            raise ValueError(f"{name}: the assignment allows {', '.join(map(str, allowed))} (got {value})")
    base = PRESETS[assignment.preset]
    values = {**assignment.fixed, **chosen}
    if assignment.step_budget is not None:
        values[BUDGET_SETTING] = assignment.step_budget
    return base.replace(**{n: v for n, v in values.items() if hasattr(base, n)})


def _shown(s: BoundSetting, value) -> str:
    if s.choices is not None:
        return s.choices.get(value, str(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def assignment_table(assignment: AssignmentRow) -> pd.DataFrame:
    """One row per setting the assignment names: what students choose, what is fixed."""
    settings = assignable(assignment.preset)
    rows = []
    for name, values in assignment.varied.items():
        s = settings.get(name)
        if s is not None:
            rows.append((s.title, "you choose", ", ".join(_shown(s, v) for v in values) if values else s.allowed()))
    if assignment.step_budget is not None:
        rows.append(("Step budget", "fixed", f"{assignment.step_budget:,}"))
    for name, value in assignment.fixed.items():
        s = settings.get(name)
        if s is not None:
            rows.append((s.title, "fixed", _shown(s, value)))
    return pd.DataFrame(rows, columns=["Setting", "", "Value"])


# -- the student's side ----------------------------------------------------------------------------
def student_class(token: str | None = None) -> tuple[StudentRow, ClassRow, AssignmentRow | None] | None:
    """The student's class and its current (newest) assignment, or None if not in a class."""
    token = token or session.student_token()
    store = get_store()
    student = store.student(token)
    if student is None or student.class_id is None:
        return None
    cls = store.class_info(student.class_id)
    if cls is None:
        return None
    assignments = store.assignments_of(cls.id)
    return student, cls, assignments[-1] if assignments else None


def student_assignment() -> AssignmentRow | None:
    """The training page's assignment for this student (kept in the session for the callbacks)."""
    joined = student_class()
    assignment = joined[2] if joined else None
    st.session_state[ASSIGNMENT] = assignment
    return assignment


def show_assignment(assignment: AssignmentRow, title: bool = True) -> None:
    """The assignment as the training page shows it: the preset, then what to vary and what is fixed."""
    if title:
        spec = ENVIRONMENTS[PRESETS[assignment.preset].env_id]
        st.info(f"**Your class's assignment**: the {assignment.preset} preset ({spec.title}). "
                "Choose the settings marked *you choose*; the others are fixed for the whole class, "
                "so the class's runs differ only where the assignment asks.", icon=":material/school:")
    st.dataframe(assignment_table(assignment), hide_index=True, key=f"class_assignment_{assignment.id}")


def join_error(code: str, name: str) -> str | None:
    """Why joining with ``code`` as ``name`` cannot work, in words (None: it can)."""
    try:
        clean_display_name(name)
    except ValueError:
        length = len(" ".join(str(name).split()))
        if length == 0:
            return f"Display name: type 1 to {DISPLAY_NAME_MAX} characters (spaces alone do not count). Nothing was changed."
        if length > DISPLAY_NAME_MAX:
            return f"Display name: at most {DISPLAY_NAME_MAX} characters; this one has {length}. Nothing was changed."
        return "Display name: no line breaks, tabs or other control characters. Nothing was changed."
    quoted = code_span(shown_text(str(code).strip() or " "))
    if not str(code).strip():
        return "Join code: type the code the teacher shows (six letters and digits, like K7Q-2MX). Nothing was changed."
    cls = get_store().class_by_code(code)
    if cls is None:
        return (f"Join code {quoted}: no class has this code. Check it against the teacher's screen "
                "(six letters and digits, like K7Q-2MX). Nothing was changed.")
    if cls.closed:
        return f"Join code {quoted}: this class is closed to new students. Ask the teacher. Nothing was changed."
    return None


def _flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(FLASH, (None, None))
    if kind == "error":
        st.error(message)
    elif kind == "success":
        st.success(message)


def on_join() -> None:
    code, name = st.session_state.get("class_join_code", ""), st.session_state.get("class_join_name", "")
    error = join_error(code, name)
    if error is None:
        try:
            get_store().join_class(code, name, token=session.student_token())
        except ValueError as exc:  # closed or renamed between the check and the join
            error = f"Could not join: {shown_text(str(exc), 200)}. Nothing was changed."
    if error:
        _flash("error", error)
    else:
        st.session_state.pop("class_join_name", None)
        _flash("success", "You joined the class: the training page now shows its assignment.")


def join_form(title: str = "Join a class") -> None:
    st.subheader(title)
    with st.container(border=True):
        c1, c2 = st.columns(2)
        c1.text_input("Join code", key="class_join_code", placeholder="K7Q-2MX", help="The code on the teacher's screen")
        c2.text_input("Your name in the class", key="class_join_name",
                      help=f"1 to {DISPLAY_NAME_MAX} characters, shown to the class as you type it")
        st.button("Join", type="primary", on_click=on_join, key="class_join")


def student_view(joined: tuple[StudentRow, ClassRow, AssignmentRow | None]) -> None:
    student, cls, assignment = joined
    st.subheader("Your class")
    st.text(f"Class: {cls.name}\nYou are: {student.display_name}" + ("\n(The class is closed to new students.)" if cls.closed else ""))
    if assignment is None:
        st.caption("No assignment yet: the teacher will set one. Until then the training page is as usual.")
    else:
        show_assignment(assignment)
        st.page_link(training_page(), label="Train for the assignment", icon=":material/rocket_launch:")
    with st.expander("Join a different class", expanded=False):
        join_form("Join with another code")


def training_page():
    from ui.pages import LESSONS

    page = next(p for p in LESSONS if p.url_path == "training")
    return page.path


# -- the teacher's side ----------------------------------------------------------------------------
def on_create() -> None:
    name = st.session_state.get("class_new_name", "")
    try:
        made = get_store().create_class(name)
    except ValueError as exc:
        _flash("error", f"Class name: {shown_text(str(exc), 200)}. Nothing was created.")
        return
    st.session_state[TEACHER] = (made.class_id, made.teacher_key)
    _flash("success", "Class created: show the join code to the room, and keep the teacher link to yourself.")


def create_form() -> None:
    with st.container(border=True):
        st.text_input("Class name", key="class_new_name", placeholder="PPO lab, Tuesday")
        st.button("Create a class", on_click=on_create, key="class_create")


def on_assign(class_id: str, key: str) -> None:
    if not require_teacher(class_id, key, show=False):
        _flash("error", "This teacher key does not open the class: nothing was changed.")
        return
    preset = st.session_state.get("class_preset", "cartpole")
    names = st.session_state.get(f"class_vary_{preset}") or []
    varied = {}
    try:
        for name in names:
            varied[name] = parse_values(preset, name, st.session_state.get(f"class_values_{preset}_{name}", ""))
        budget = st.session_state.get("class_budget")
        budget = None if budget is None else int(budget)
        if budget is not None:
            try:
                PRESETS[preset].replace(total_steps=budget)  # at least one batch: PPOConfig says so
            except ValueError as exc:
                raise ValueError(f"Step budget: {exc}") from None
    except ValueError as exc:
        _flash("error", f"{shown_text(str(exc), 300)}. The assignment was not set.")
        return
    if not varied:
        _flash("error", "Students choose: pick at least one setting the class varies. The assignment was not set.")
        return
    get_store().create_assignment(class_id, preset, varied, fixed_values(preset, varied), step_budget=budget)
    _flash("success", "Assignment set: students see it on the Class and training pages.")


def on_close(class_id: str, key: str) -> None:
    if not require_teacher(class_id, key, show=False):
        _flash("error", "This teacher key does not open the class: nothing was changed.")
        return
    get_store().close_class(class_id)
    _flash("success", "The class is closed: no one new can join; its students keep training.")


def join_code_banner(code: str) -> None:
    """The join code, large enough to read from the back of a room (the code is ours: a fixed alphabet)."""
    st.html(f'<div class="ppo-join-code" style="font-size:5rem;font-weight:700;letter-spacing:0.15em;'
            f'font-family:monospace;line-height:1.1">{code}</div>')


def teacher_view(class_id: str, key: str) -> None:
    store = get_store()
    cls = store.class_info(class_id)
    links.keep_private(CLASS_PARAM, class_id)
    links.keep_private(KEY_PARAM, key)
    st.subheader("Your class")
    st.text(f"Class: {cls.name}" + ("  (closed to new students)" if cls.closed else ""))
    st.caption("Join code: students open the Class page and type it with their name.")
    join_code_banner(cls.join_code)
    with st.expander("Teacher link (keep it to yourself: it opens this class as its teacher)", expanded=False):
        st.code(teacher_link(class_id, key), language=None, wrap_lines=True)
    st.link_button("Open the class board", teacher_link(class_id, key, page="board"), icon=":material/leaderboard:",
                   help="Every student's curve and the class's sweep, live: for the projector (a new tab)")
    students = store.students_of(class_id)
    st.caption(f"{len(students)} student{'s' if len(students) != 1 else ''} joined.")
    if students:
        st.dataframe(pd.DataFrame({"Student": [s.display_name for s in students]}), hide_index=True, key="class_students")

    st.subheader("Assignment")
    assignments = store.assignments_of(class_id)
    if assignments:
        show_assignment(assignments[-1], title=False)
    with st.expander("Set a new assignment" if assignments else "Set the assignment", expanded=not assignments):
        preset = st.selectbox("Preset", list(PRESETS), key="class_preset",
                              format_func=lambda p: f"{p} — {ENVIRONMENTS[PRESETS[p].env_id].title}")
        settings = assignable(preset)
        st.multiselect("Students choose", list(settings), default=["clip_coef"], key=f"class_vary_{preset}",
                       format_func=lambda n: settings[n].title,
                       help="Every other setting is fixed at the preset's value for the whole class")
        for name in st.session_state.get(f"class_vary_{preset}") or []:
            st.text_input(f"{settings[name].title}: values to try (comma-separated; empty: any allowed value)",
                          key=f"class_values_{preset}_{name}", help=f"Allowed: {settings[name].allowed()}")
        st.number_input("Step budget (empty: the preset's)", min_value=1, max_value=10_000_000, value=None, step=10_000,
                        key="class_budget")
        st.button("Set the assignment", type="primary", on_click=on_assign, args=(class_id, key), key="class_assign")
    st.button("Close the class to new students", disabled=cls.closed, on_click=on_close, args=(class_id, key), key="class_close")


def page() -> None:
    """The Class page: the teacher's class if this session holds its key, else the student's."""
    token = session.student_token()
    show_flash()
    held = teacher_class()
    if held is not None and require_teacher(*held):
        teacher_view(*held)
        return
    joined = student_class(token)
    if joined is None:
        join_form()
    else:
        student_view(joined)
    st.subheader("Teaching?")
    st.caption("Create a class: you get a join code for the room and a teacher link that only you should have.")
    create_form()
