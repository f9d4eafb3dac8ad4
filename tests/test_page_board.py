"""AppTest: the class board page, with the app's store (conftest: a temporary SQLite file)
prepared directly. Only the teacher key opens it; with it, it shows every student's run, the
sweep, the counts, the answers and a run's detail, names as plain text."""

from __future__ import annotations

import json

import pytest

from conftest import APP, named_datasets
from ppo_core import PRESETS
from runs.manager import get_store
from test_board import curve
from views.board import NO_ACCESS

PAGE = "lessons/class_board.py"
NAMES = ["Ana", "**Bo** [x](http://e.io)", "<b>Cy</b>", "Dee"]
EPS = [0.1, 0.2, 0.2, 0.3]
SLOPES = [30.0, 45.0, 40.0, 8.0]  # Dee's never reaches 475 in 20 updates


@pytest.fixture(scope="module")
def classroom():
    store = get_store()
    cls = store.create_class("Board test *class*")
    assignment = store.create_assignment(cls.class_id, "cartpole", {"clip_coef": EPS})
    runs = []
    for name, eps, slope in zip(NAMES, EPS, SLOPES):
        token = store.join_class(cls.join_code, name).token
        run_id = store.create_run(token, "cartpole", PRESETS["cartpole"].replace(clip_coef=eps).to_dict(), 1,
                                  class_id=cls.class_id, assignment_id=assignment, status="running")
        store.append_records(run_id, curve(20, slope), 0)
        store.set_status(run_id, "finished")
        store.record_answer(token, "clip", "it flattens" if eps < 0.3 else "it grows", eps < 0.3)
        runs.append(run_id)
    return cls, runs


def open_board(query: dict[str, str]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()  # st.navigation registers the pages on the first run
    for k, v in query.items():
        at.query_params[k] = v  # as the teacher link opens the board
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def page_text(at) -> str:
    parts = [e.value for kind in ("markdown", "text", "caption", "code", "error", "info", "title", "subheader") for e in at.get(kind)]
    parts += [str(m.value) for m in at.metric] + [m.label for m in at.metric]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("key", ["wrong", None, "other class"])
def test_without_the_teacher_key_nothing_of_the_class_is_shown(classroom, key):
    cls, _runs = classroom
    if key == "other class":  # a real teacher key, of another class
        key = get_store().create_class("Other").teacher_key
    at = open_board({"class": cls.class_id} | ({"key": key} if key is not None else {}))
    assert [e.value for e in at.error] == [NO_ACCESS]
    assert not at.get("vega_lite_chart") and not at.dataframe and not at.metric and not at.selectbox
    text = page_text(at)
    assert "Board test" not in text and cls.join_code not in text
    assert not any(name in text for name in NAMES)


def test_the_board_shows_every_students_run_the_sweep_and_the_answers(classroom):
    cls, runs = classroom
    at = open_board({"class": cls.class_id, "key": cls.teacher_key})
    assert not at.error
    assert "key" not in at.query_params  # the address bar no longer shows it to the room
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Join code"] == cls.join_code
    assert metrics["Students"] == "4" and metrics["Runs"] == "4"
    assert metrics["Reached the target"] == "3" and metrics["Training"] == "0" and metrics["Failed"] == "0"
    charts = at.get("vega_lite_chart")
    curves, sweep = named_datasets(charts[0]), named_datasets(charts[1])
    assert set(curves["curves"]["run_id"]) == set(runs)
    assert sorted(set(curves["curves"]["student"])) == sorted(NAMES)
    points = sweep["sweep"][sweep["sweep"]["kind"] == "run"]
    assert sorted(points["run_id"]) == sorted(runs)
    # three reached (steps to target), Dee's ended at its final return 8 × 20 = 160
    assert sorted(points["outcome"]) == ["final return (did not reach)"] + ["steps to target (reached)"] * 3
    medians = sweep["sweep"][sweep["sweep"]["kind"] == "median"]
    steps_02 = medians[(medians["value"] == "0.2") & (medians["outcome"] == "steps to target (reached)")]["result"]
    assert list(steps_02) == [256 * (11 + 12) / 2]  # Bo at update 11 (495), Cy at 12 (480): their median
    answers = at.dataframe[0].value
    assert list(zip(answers["answer"], answers["students"])) == [("it flattens", 3), ("it grows", 1)]
    # Names are plain text: in the class line, the chart data and the run list, never Markdown
    assert at.text[0].value == "Class: Board test *class*"
    assert not any(name in e.value for e in at.markdown for name in NAMES[1:])
    options = at.selectbox(key="board_run").options
    assert any(o.startswith("**Bo** [x](http://e.io) · Clip range ε 0.2 · finished") for o in options)


def test_a_run_chosen_on_the_board_opens_its_curve_and_config(classroom):
    cls, runs = classroom
    at = open_board({"class": cls.class_id, "key": cls.teacher_key})
    before = len(at.get("vega_lite_chart"))
    at.selectbox(key="board_run").select(runs[2]).run()
    assert not at.exception, at.exception
    detail = next(t.value for t in at.text if t.value.startswith("Student: "))
    assert detail.splitlines()[:3] == ["Student: <b>Cy</b>", "Status: finished", "Clip range ε: 0.2"]
    assert "after 3,072 steps" in detail  # 40 × 12 = 480 ≥ 475 at update 12
    assert json.loads(at.code[-1].value)["clip_coef"] == 0.2
    charts = at.get("vega_lite_chart")
    assert len(charts) == before + 1
    one = named_datasets(charts[-1])["returns"]
    assert list(one["global_step"]) == [256 * k for k in range(2, 21)]  # its own curve only
