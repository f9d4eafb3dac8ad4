"""views.lesson_controls: one call declares a lesson control, restores it from the link and draws
it; and no page declares a control's range twice (a Param, then a widget call with the same key)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from plain_markdown import SPAN, code_spans

from ui.links import Param
from views.lesson_controls import draw

ROOT = Path(__file__).resolve().parents[1]
WIDGET_CALLS = {"slider", "number_input", "select_slider", "selectbox", "radio", "toggle", "checkbox", "text_input", "multiselect"}
# Pages allowed a control that is both a Param and a widget of its own: none any more. The list
# may only shrink: a new double declaration fails.
STILL_DOUBLE: dict[str, set[str]] = {}


def double_declared(source: str) -> list[str]:
    """Keys that ``source`` both declares as ``Param("key", ...)`` and draws with a widget call of
    its own (``st.slider(..., key="key")``), each with the widget's line."""
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]

    def name(call: ast.Call) -> str | None:
        return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)

    params = {
        call.args[0].value
        for call in calls
        if name(call) == "Param" and call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
    }
    found = []
    for call in calls:
        if name(call) in WIDGET_CALLS:
            for kw in call.keywords:
                if kw.arg == "key" and isinstance(kw.value, ast.Constant) and kw.value.value in params:
                    found.append(f"{kw.value.value} (line {call.lineno}: {name(call)})")
    return found


def test_the_check_finds_a_range_declared_twice():
    twice = 'PARAMS = [Param("eps", 0.2, "float", 0.05, 0.5)]\nrestore(PARAMS)\neps = c1.slider("ε", 0.05, 0.5, key="eps")\n'
    assert double_declared(twice) == ["eps (line 3: slider)"]
    once = 'eps = control(Param("eps", 0.2, "float", 0.05, 0.5), "ε", where=c1)\nst.radio("?", ["a"], key="predict/x")\n'
    assert double_declared(once) == []


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "lessons").glob("*.py")))
def test_no_lesson_page_declares_a_control_twice(page):
    source = (ROOT / "lessons" / page).read_text(encoding="utf-8")
    allowed = STILL_DOUBLE.get(page, set())
    found = [entry for entry in double_declared(source) if entry.split(" ")[0] not in allowed]
    assert not found, f"{page}: declare these with views.lesson_controls.control(Param(...), label) instead: {found}"


def test_draw_refuses_a_widget_that_does_not_fit_the_kind():
    with pytest.raises(ValueError, match="Param flag: a bool is drawn as one of toggle, not 'slider'"):
        draw(Param("flag", False, "bool"), "Flag", "slider")
    with pytest.raises(ValueError, match="Param n: a int is drawn as one of slider, number, not 'radio'"):
        draw(Param("n", 1, "int", 0, 3), "N", "radio")


# -- an AppTest of a page made of one-call controls ------------------------------------------------
def demo_page():
    import streamlit as st

    from ui.links import Param
    from views.links import begin_page, publish
    from views.lesson_controls import control

    begin_page("demo")
    left, right = st.columns(2)
    x = control(Param("demo_x", 0.2, "float", 0.05, 0.5, step=0.01), "X", where=left)
    n = control(Param("demo_n", 3, "int", 0, 10), "N", "number", where=right)
    c = control(Param("demo_c", "a", "choice", choices=("a", "b")), "C", "radio", horizontal=True)
    on = control(Param("demo_on", False, "bool"), "On")
    st.text(repr((x, n, c, on)))
    publish()


@pytest.fixture
def open_demo():
    from streamlit.testing.v1 import AppTest

    def _open(query: dict[str, str]):
        at = AppTest.from_function(demo_page, default_timeout=60)
        at.query_params.update(query)
        at.run()
        assert not at.exception, at.exception
        return at

    return _open


def link_notes(at) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link's parameter")]


def test_a_one_call_control_restores_from_the_link(open_demo):
    at = open_demo({"demo_x": "0.314", "demo_n": "7", "demo_c": "b", "demo_on": "1"})
    slider = at.slider(key="demo_x")
    assert slider.value == pytest.approx(0.31)  # onto the Param's grid of 0.01
    assert (slider.min, slider.max, slider.step) == (0.05, 0.5, 0.01)  # the widget's range is the Param's
    assert at.number_input(key="demo_n").value == 7
    assert at.radio(key="demo_c").value == "b"
    assert at.toggle(key="demo_on").value is True
    assert at.text[0].value == "(0.31, 7, 'b', True)"  # what the call returns: an int for the int
    assert not link_notes(at)
    assert dict(at.query_params) == {"demo_x": "0.31", "demo_n": "7", "demo_c": "b", "demo_on": "1"}
    # later runs: the control leads and the URL follows it
    at.number_input(key="demo_n").set_value(9).run()
    assert at.query_params["demo_n"] == "9" and at.text[0].value == "(0.31, 9, 'b', True)"


def test_a_bad_link_value_gives_the_default_and_a_plain_note_at_its_control(open_demo):
    at = open_demo({"demo_x": "0.9", "demo_n": "[x](http://evil.test/)", "demo_c": "b"})
    assert at.slider(key="demo_x").value == pytest.approx(0.2)
    assert at.number_input(key="demo_n").value == 3
    assert at.radio(key="demo_c").value == "b"  # a good value beside bad ones is applied
    assert at.text[0].value == "(0.2, 3, 'b', False)"
    # each note stands in the column of its control
    (x_note,) = [w.value for w in at.columns[0].warning]
    (n_note,) = [w.value for w in at.columns[1].warning]
    assert sorted(link_notes(at)) == sorted([x_note, n_note])
    spans, outside = code_spans(n_note)
    assert spans == ["demo_n=[x](http://evil.test/)"]  # the link's text only inside a code span
    assert outside == f"The link's parameter {SPAN} is not a number (allowed: a whole number from 0 to 10); showing the default, 3."
    spans, outside = code_spans(x_note)
    assert spans == ["demo_x=0.9"]
    assert outside == f"The link's parameter {SPAN} is out of range (allowed: a number from 0.05 to 0.5); showing the default, 0.2."
    assert at.query_params["demo_x"] == "0.2" and at.query_params["demo_n"] == "3"  # the URL is corrected
    at.run()  # the notes stay for the visit
    assert len(link_notes(at)) == 2
