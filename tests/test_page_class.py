"""AppTest: the Class page (a teacher's class, its join code, key and assignment; a student
joining) and what the training page does for a student in a class: the assignment shown, only
its settings drawn, runs recorded in the class; the permissions and the bad input of issue 12.

The app's store is the temporary one conftest gives the pytest process (PPO_DATA_DIR)."""

from __future__ import annotations

import re

import pytest

from conftest import APP, rerun_until as wait_until
from ppo_core import PRESETS
from runs.manager import TrainingRun, get_store
from runs.store import RunStore, new_student_token

CLASS_PAGE = "lessons/class_room.py"
TRAINING_PAGE = "lessons/training.py"
TIMEOUT_S = 120
BUDGET = 10 * PRESETS["cartpole"].batch_size


def app(query: dict | None = None, page: str = CLASS_PAGE):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()  # (the first run registers the pages; its page, the home page, drops the others' parameters)
    for k, v in (query or {}).items():  # so the link is as a browser opens it on the page itself
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def page_text(at) -> str:
    """Every text the page shows (its elements' values, tables included) and its URL."""
    parts = []
    for kind in ("markdown", "text", "code", "caption", "info", "success", "error", "warning", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [h.proto.body for h in at.get("html")]
    parts += [f"{k}={v}" for k, v in at.query_params.items()]
    return "\n".join(parts)


def join_code(at) -> str:
    bodies = [h.proto.body for h in at.get("html") if "ppo-join-code" in h.proto.body]
    assert len(bodies) == 1, "the join code is not shown"
    return re.search(r">([0-9A-Z]{3}-[0-9A-Z]{3})<", bodies[0]).group(1)


def create_class(name="PPO lab", vary=("clip_coef",), values=None, budget=BUDGET):
    """A teacher's session with a class and an assignment; returns (session, class_id, key, code)."""
    teacher = app()
    teacher.text_input(key="class_new_name").set_value(name).run()
    teacher.button(key="class_create").click().run()
    assert not teacher.exception, teacher.exception
    class_id, key = teacher.session_state["class_teacher"]
    if vary:
        teacher.multiselect(key="class_vary_cartpole").set_value(list(vary)).run()
        for setting, text in (values or {}).items():
            teacher.text_input(key=f"class_values_cartpole_{setting}").set_value(text).run()
        if budget is not None:
            teacher.number_input(key="class_budget").set_value(budget).run()
        teacher.button(key="class_assign").click().run()
        assert not teacher.error, [e.value for e in teacher.error]
    return teacher, class_id, key, join_code(teacher)


def join(code: str, name: str, me: str | None = None):
    student = app({"me": me or new_student_token()})
    student.text_input(key="class_join_code").set_value(code).run()
    student.text_input(key="class_join_name").set_value(name).run()
    student.button(key="class_join").click().run()
    assert not student.exception, student.exception
    return student


def test_the_teacher_gets_a_join_code_and_a_link_with_the_key_that_the_link_to_this_view_lacks():
    teacher, class_id, key, code = create_class()
    assert get_store().class_by_code(code).id == class_id
    # the teacher's own URL reopens the class (a bookmark); the link to this view does not
    assert teacher.query_params["class"] == class_id and teacher.query_params["key"] == key
    me = teacher.session_state["student_token"]
    codes = [c.value for c in teacher.code]
    teacher_links = [c for c in codes if f"key={key}" in c]
    assert teacher_links == [f"/class?class={class_id}&key={key}"]
    shared = [c for c in codes if c not in teacher_links]
    assert shared == ["/class"]  # the popover's link: no key, no personal token
    assert all(me not in c for c in shared)
    # the assignment is stored as set
    [a] = get_store().assignments_of(class_id)
    assert (a.preset, a.varied, a.step_budget) == ("cartpole", {"clip_coef": []}, BUDGET)
    assert a.fixed["learning_rate"] == PRESETS["cartpole"].learning_rate and "clip_coef" not in a.fixed

    # The teacher link opens the class in a fresh session (another device, or after a restart).
    again = app({"class": class_id, "key": key})
    assert join_code(again) == code and not again.error


def test_a_student_joins_trains_the_assignment_and_a_second_session_lists_the_run():
    _, class_id, key, code = create_class(vary=("clip_coef", "seed"), values={"clip_coef": "0.1, 0.3"})
    me = new_student_token()
    student = join(code.lower().replace("-", ""), "Ana", me)  # as a student may type it
    assert [s.value for s in student.success] == ["You joined the class: the training page now shows its assignment."]
    assert "Class: PPO lab\nYou are: Ana" in [t.value for t in student.text]
    assert get_store().student(me).class_id == class_id

    training = app({"me": me}, TRAINING_PAGE)
    table = next(df.value for df in training.dataframe if "Setting" in df.value.columns)
    chosen = dict(zip(table["Setting"], table[""]))
    assert chosen["Clip range ε"] == "you choose" and chosen["Seed"] == "you choose"
    assert chosen["Learning rate"] == "fixed" and chosen["Step budget"] == "fixed"
    # only the varied controls: ε as a choice of the teacher's values, the seed free; no preset box
    assignment_id = get_store().assignments_of(class_id)[0].id
    eps = training.selectbox(key=f"train_cartpole_clip_coef_of_{assignment_id}")
    assert eps.options == ["0.1", "0.3"]
    keys = {w.key for w in [*training.number_input, *training.slider, *training.selectbox]}
    assert "train_cartpole_seed" in keys
    assert not keys & {"train_preset", "train_cartpole_learning_rate", "train_cartpole_total_steps", "train_cartpole_gamma"}
    assert not [b for b in training.button if b.key == "train_compare"]
    assert key not in page_text(training) and key not in page_text(student)

    eps.set_value(0.3).run()
    training.number_input(key="train_cartpole_seed").set_value(7).run()
    training.button(key="train_start").click().run()
    run = training.session_state["train_runs"][0]
    row = get_store().run(run.id)
    assert (row.class_id, row.assignment_id) == (class_id, assignment_id)
    assert (row.config["clip_coef"], row.seed, row.config["total_steps"]) == (0.3, 7, BUDGET)
    assert row.config["learning_rate"] == PRESETS["cartpole"].learning_rate
    wait_until(training, lambda a: not run.active, "the run to finish")

    second = app({"me": me}, TRAINING_PAGE)  # a reload, another tab
    table = next(df.value for df in second.dataframe if "Run" in df.value.columns)
    assert list(table["Run"]) == [run.label] and list(table["Status"]) == ["finished"]
    assert get_store().runs_of(class_id=class_id)[0].id == run.id


def test_bad_input_gets_a_clear_message_and_changes_nothing():
    teacher, class_id, key, code = create_class()
    me = new_student_token()
    cases = {
        ("ZZZ-ZZZ", "Ana"): "Join code `ZZZ-ZZZ`: no class has this code.",
        (code, ""): "Display name: type 1 to 24 characters",
        (code, "   "): "Display name: type 1 to 24 characters",
        (code, "x" * 25): "Display name: at most 24 characters; this one has 25.",
        ("", "Ana"): "Join code: type the code the teacher shows",
    }
    for (typed, name), message in cases.items():
        student = join(typed, name, me)
        assert [e.value for e in student.error if message in e.value], (typed, name, [e.value for e in student.error])
        assert get_store().student(me) is None  # nothing changed
    assert len(get_store().students_of(class_id)) == 0

    # Twenty-four characters are fine.
    join(code, "y" * 24, me)
    assert get_store().student(me).display_name == "y" * 24

    # A wrong key opens nothing and shows no class.
    wrong = app({"class": class_id, "key": "not-the-key"})
    assert any("This teacher key does not open the class: nothing was changed." in e.value for e in wrong.error)
    assert "class_teacher" not in wrong.session_state and not [h for h in wrong.get("html") if "ppo-join-code" in h.proto.body]
    assert not [b for b in wrong.button if b.key == "class_close"]
    unknown = app({"class": "nope", "key": key})
    assert any("No class has the id `nope`" in e.value for e in unknown.error)
    hostile = app({"class": "<b>x</b>`**", "key": "<script>"})
    assert any("No class has the id ``<b>x</b>`**``" in e.value for e in hostile.error), [e.value for e in hostile.error]

    # A teacher's bad assignment is refused with the setting's name and range.
    teacher.multiselect(key="class_vary_cartpole").set_value(["clip_coef"]).run()
    teacher.text_input(key="class_values_cartpole_clip_coef").set_value("0.2, 1.5").run()
    teacher.button(key="class_assign").click().run()
    assert any(e.value.startswith("Clip range ε: clip_coef") and "The assignment was not set." in e.value for e in teacher.error)
    teacher.text_input(key="class_values_cartpole_clip_coef").set_value("").run()
    teacher.number_input(key="class_budget").set_value(100).run()
    teacher.button(key="class_assign").click().run()
    assert any(e.value.startswith("Step budget: total_steps: must be at least one batch") for e in teacher.error)
    assert len(get_store().assignments_of(class_id)) == 1

    # Only the teacher closes; then a new student is refused.
    teacher.button(key="class_close").click().run()
    assert get_store().class_info(class_id).closed
    late = join(code, "Late", new_student_token())
    assert any("this class is closed to new students" in e.value for e in late.error)
    assert [s.display_name for s in get_store().students_of(class_id)] == ["y" * 24]


def test_require_teacher_checks_the_key(monkeypatch):
    from streamlit.testing.v1 import AppTest

    made = get_store().create_class("Keys")
    probe = AppTest.from_function(_require_probe, args=(made.class_id, made.teacher_key))
    probe.run()
    assert not probe.exception, probe.exception
    assert [t.value for t in probe.text] == ["right: True", "wrong: False", "none: False"]
    assert len(probe.error) == 2 and made.teacher_key not in page_text(probe)


def _require_probe(class_id, key):
    import streamlit as st

    from views.classroom import require_teacher

    st.text(f"right: {require_teacher(class_id, key)}")
    st.text(f"wrong: {require_teacher(class_id, key + 'x')}")
    st.text(f"none: {require_teacher(class_id, None)}")


@pytest.mark.parametrize("name", ["<b>x</b>", "**x**"])
def test_a_name_is_shown_as_typed_never_as_markup(name):
    teacher, class_id, key, code = create_class(name=name)  # the class's name too
    first = join(code, name)
    second = join(code, name)
    assert f"Class: {name}\nYou are: {name}" in [t.value for t in first.text]
    assert f"Class: {name}\nYou are: {name} (2)" in [t.value for t in second.text]
    for at in (first, second):
        assert not [m for m in at.markdown if "x</b>" in m.value or "**x**" in m.value or "<b>" in m.value]
    teacher.run()
    students = next(df.value for df in teacher.dataframe if "Student" in df.value.columns)
    assert list(students["Student"]) == [name, f"{name} (2)"]
    assert f"Class: {name}" in [t.value for t in teacher.text]


def test_the_student_s_links_carry_no_key_and_the_shared_link_no_token():
    _, class_id, key, code = create_class()
    me = new_student_token()
    student = join(code, "Ben", me)
    for at in (student, app({"me": me}, TRAINING_PAGE)):
        text = page_text(at)
        assert key not in text and class_id not in text
        assert dict(at.query_params) == {"me": me} or set(at.query_params) - {"me"} <= {
            "preset", "stop_at_target", "clip_coef"}
        shared = [c.value for c in at.code if "me=" not in c.value]
        assert shared and all(me not in c and key not in c for c in shared)


def test_a_student_cannot_stop_another_student_s_run():
    owner, other = new_student_token(), new_student_token()
    at = app({"me": other}, TRAINING_PAGE)
    foreign = TrainingRun(PRESETS["cartpole"].to_dict(), label="#1 of someone else", owner=owner, preset="cartpole")
    assert foreign.active  # queued: Stop would end it at once
    at.session_state["train_runs"] = [foreign]
    at.session_state["train_current"] = foreign.id
    at.run()
    assert at.button(key="train_stop").disabled  # the page offers no Stop for it
    at.button(key="train_reset").click().run()  # Reset takes it off this page without stopping it
    assert not at.exception, at.exception
    assert foreign.active and foreign.state == "queued"
    assert not at.session_state["train_runs"]


def test_predict_answers_are_kept_under_the_token_across_sessions():
    me = new_student_token()
    first = app({"me": me}, "lessons/clipped_objective.py")
    radio = first.radio(key="predict/clip")
    chosen = radio.options[0]
    radio.set_value(chosen).run()
    assert not first.exception, first.exception
    right = any(s.value.startswith("Right:") for s in first.success)
    assert right != any(w.value.startswith("Not quite:") for w in first.warning)  # the page says which
    [row] = get_store().answers(me)
    assert (row.question, row.answer, row.correct) == ("clip", chosen, right)
    first.radio(key="predict/clip").set_value(radio.options[1]).run()
    assert [r.answer for r in get_store().answers(me)] == [chosen]  # the first answer is the prediction

    again = app({"me": me}, "lessons/clipped_objective.py")  # a reload, another tab, a restart
    assert again.radio(key="predict/clip").value == chosen
    assert again.session_state["predictions"]["clip"] == {"choice": chosen, "correct": right}
    stranger = app({"me": new_student_token()}, "lessons/clipped_objective.py")
    assert stranger.radio(key="predict/clip").value is None


def test_a_failing_store_does_not_break_the_question(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("store down")

    monkeypatch.setattr(RunStore, "record_answer", broken)
    monkeypatch.setattr(RunStore, "answers", broken)
    at = app({"me": new_student_token()}, "lessons/clipped_objective.py")
    radio = at.radio(key="predict/clip")
    radio.set_value(radio.options[0]).run()
    assert not at.exception, at.exception
    assert at.session_state["predictions"]["clip"]["choice"] == radio.options[0]
