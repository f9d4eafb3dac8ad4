"""Hostile links: every parameter of every page, given values a link should never hold, gives a
note in plain text and the default, never an exception; and a property test of the parser.

The pages' parameters are found by running each page once (AppTest) and reading the list that
views.links.restore keeps for the run, so a control added to a page is covered without a list here.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plain_markdown import SPAN, code_spans

from ui.links import NOTE_VALUE_CHARS, Param, format_value
from views.links import STATE
from ui.pages import HOME, LESSONS

HOSTILE = [
    "1e307",
    "-1e307",
    "inf",
    "-inf",
    "nan",
    "-0",
    "`",
    "a`b``c",
    "`x` ``y``",
    "[x](http://evil.test/)",
    "![i](http://evil.test/a.png)",
    "<img src=x onerror=alert(1)>",
    ":red[x] $x^2$ **b** _i_ http://evil.test/",
    "9" * 120,  # cut in the note
]
REASONS = ("is not a number", "is not a finite number", "is out of range", "is not a whole number",
           "is not one of the choices", "is not a yes/no value")


@pytest.fixture(scope="module")
def opened() -> dict:
    """page path -> (its AppTest, the Params its run restored)."""
    from streamlit.testing.v1 import AppTest

    from conftest import APP

    out = {}
    for page in [HOME, *LESSONS]:
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        at.switch_page(page.path).run()
        assert not at.exception, (page.path, at.exception)
        out[page.path] = (at, list(at.session_state[STATE].params))
    assert sum(len(params) for _, params in out.values()) >= 30  # every lesson page has controls in its URL
    return out


def shown(raw: str) -> str:
    """How a note quotes a printable value: cut to NOTE_VALUE_CHARS characters with an ellipsis."""
    return raw if len(raw) <= NOTE_VALUE_CHARS else raw[:NOTE_VALUE_CHARS] + "…"


def check_note(note: str, param: Param, default_text: str | None = None) -> str:
    """The note is plain text apart from one code span holding ``name=value``; returns the
    value it quotes. The text outside the span is the fixed wording, whatever the value."""
    spans, outside = code_spans(note)
    assert len(spans) == 1 and spans[0].startswith(param.param + "="), (note, spans)
    default = re.escape(default_text) if default_text is not None else r"[^`<>\[\]!*$\\]+"
    template = (rf"The link's parameter {SPAN} ({'|'.join(REASONS)}) \(allowed: {re.escape(param.allowed())}\); "
                rf"showing the default, {default}\.")
    assert re.fullmatch(template, outside), (note, outside)
    return spans[0][len(param.param) + 1 :]


def link_notes(at) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link's parameter")]


@pytest.mark.parametrize("page", [p.path for p in LESSONS])
def test_every_parameter_refuses_hostile_values_with_a_plain_note(opened, page):
    at, params = opened[page]
    assert params
    for raw in HOSTILE:
        at.query_params.clear()
        at.query_params.update({p.param: raw for p in params})
        at.run()
        assert not at.exception, (page, raw, at.exception)
        notes = {}
        for note in link_notes(at):
            spans, _ = code_spans(note)
            notes[spans[0].split("=", 1)[0]] = note
        for p in params:
            url_value = at.query_params[p.param]
            assert not re.fullmatch(r"-0(\.0*)?", url_value), (page, raw, p.param)  # -0 is never written back
            if p.param not in notes:  # only "-0" is a value some controls allow: it gives them 0
                assert raw == "-0" and at.session_state[p.key] == 0 and url_value == "0", (page, raw, p.param, url_value)
                continue
            default_text = format_value(p, at.session_state[p.key])
            assert check_note(notes[p.param], p, default_text) == shown(raw), (page, raw, notes[p.param])
            assert url_value == default_text  # the URL is corrected to the default the control shows
        assert set(notes) <= {p.param for p in params}


def test_a_hostile_presenter_flag_gives_a_plain_note(opened):
    at, _ = opened["lessons/clipped_objective.py"]
    for raw in ["![i](http://evil.test/a.png)", "`` <img src=x onerror=alert(1)> ``", "1e307"]:
        at.query_params.clear()
        at.query_params.update({"present": raw})
        at.run()
        assert not at.exception
        (note,) = [w.value for w in at.warning if "present=" in w.value]
        spans, outside = code_spans(note)
        assert spans == [f"present={raw}"], note
        assert outside == f"The link's parameter {SPAN} is not allowed: use 1 or 0. Presenter mode is left as it was."
        assert "present" not in at.session_state or at.session_state["present"] is False  # the mode is left as it was: off


# -- the parser, property-based ------------------------------------------------------------------
def static(param: Param) -> Param:
    """The parameter with a fixed default (a callable default reads the session of a page run)."""
    if not callable(param.default):
        return param
    fixed = param.choices[0] if param.kind == "choice" else (param.lo if param.lo is not None else 0)
    return dataclasses.replace(param, default=fixed)


NUMBERS = r"\s*[-+]?(\d{1,30}\.?\d{0,20}|\.\d{1,20})([eE][-+]?\d{1,4})?\s*"


def raw_values(params: list[Param]):
    words = sorted({str(c) for p in params for c in p.choices} | {"1", "0", "true", "Off", "yes", "maybe"})
    return st.one_of(
        st.text(),
        st.text(alphabet="`[]()!<>*_~$:\\ \n\t\r#-=|", max_size=60),
        st.from_regex(NUMBERS, fullmatch=True),
        st.floats().map(repr),
        st.integers(min_value=-(10**400), max_value=10**400).map(str),
        st.sampled_from(HOSTILE + words),
    )


def test_the_parser_gives_a_value_or_the_default_with_a_plain_note(opened):
    params = [static(p) for _, page_params in opened.values() for p in page_params]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(param=st.sampled_from(params), raw=raw_values(params))
    def check(param: Param, raw: str) -> None:
        value, note = param.read(raw)
        if note is None:
            if param.kind == "choice":
                assert value in param.choices and str(value) == raw.strip()
            elif param.kind == "bool":
                assert isinstance(value, bool)
            else:
                assert isinstance(value, int if param.kind == "int" else float) and math.isfinite(value)
                assert (param.lo is None or value >= param.lo) and (param.hi is None or value <= param.hi)
                assert not (value == 0 and math.copysign(1.0, value) < 0)  # never -0.0
            written = format_value(param, value)
            assert format_value(param, param.parse(written)) == written  # what the URL gets reads back the same
            return
        assert value == param.default
        quoted = check_note(note, param, format_value(param, param.default))
        assert len(quoted) <= NOTE_VALUE_CHARS + 1 and quoted.isprintable()
        if raw.isprintable():
            assert quoted == shown(raw)

    check()
