"""Shareable links: a page's control values live in the URL's query parameters.

Each control is declared once, as a ``Param`` (its key, default, kind and range), and
``restore`` gives its widget key its value before the widget is drawn. app.py does the rest
around every page run (``begin_page`` before, ``publish`` after), so moving a control rewrites
the URL, and a copied URL opens the page with the same values. A lesson page does both in one
call, ``views.lesson_controls.control``, which draws the widget from the same Param::

    eps = control(Param("clip_eps", 0.2, "float", 0.05, 0.5, step=0.01), "Clip range ε")

This module draws no controls (only the notes and the link popover). The widgets
take their value from ``st.session_state[key]``, so they must not be given one
(``value=``/``index=``) too. Rules for a page's values:

- On the first run of a page (a fresh session, or arriving from another page) every parameter in
  the URL is applied; a parameter missing from it keeps the session's value, or the default.
- On later runs the controls lead and the URL follows, unless the URL itself changed since it was
  last written (the browser's back/forward buttons): then its parameters are applied again.
- A malformed or out-of-range value is never applied: the control gets its default, and a note
  (above the control) names the parameter, the bad value and what is allowed.
- The URL holds only the current page's parameters (and ``present=1`` in presenter mode):
  the previous page's are dropped when the next page publishes.

Streamlit 1.67's own ``bind="query-params"`` on widgets was not used: it drops an invalid value
silently (a student opening a mistyped link would not know why the page looks different), keys a
selectbox by its formatted label instead of its value, and cannot express a range that depends
on another value (the PPO update page's epoch slider).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st

STATE = "_links"  # session_state key of this module's bookkeeping
PRESENT = "present"  # session flag and query parameter of presenter mode
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
# Beyond 2**53 a browser's number widget no longer holds a whole number exactly (JavaScript's
# Number.MAX_SAFE_INTEGER), so no control here accepts it, bounded or not.
MAX_MAGNITUDE = 2.0**53
NOTE_VALUE_CHARS = 40  # a link's value is cut to this length in a note: a URL's can be thousands long
NOTE_ICON = ":material/link_off:"  # the icon of a note about a link's value


@dataclass(frozen=True)
class Param:
    """One control whose value is kept in the URL.

    key: the widget's key in ``st.session_state``.
    default: the value without a (valid) URL parameter; a callable is called at restore time
        (after the parameters before it in the same list are restored), for a default that
        depends on another control, e.g. ``lambda: PRESETS[st.session_state["rtg_env"]].gamma``.
    kind: "float", "int", "choice" or "bool".
    lo, hi: inclusive range of a float or int (None: unbounded on that side).
    choices: the allowed values of a "choice" (matched against the URL by ``str(choice)``).
    step: a float's grid from ``lo``: a URL value is rounded to it, as the slider would.
    name: the query parameter's name, if not ``key`` (a shorter alias).
    """

    key: str
    default: Any
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    step: float | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "choice", "bool"):
            raise ValueError(f"Param {self.key}: kind must be float, int, choice or bool, not {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Param {self.key}: a choice needs its choices")
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def param(self) -> str:
        """The query parameter's name."""
        return self.name or self.key

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def allowed(self) -> str:
        """What the parameter accepts, in words."""
        if self.kind == "bool":
            return "1 or 0 (true or false)"
        if self.kind == "choice":
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = "a whole number" if self.kind == "int" else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{kind} from {format_value(self, self.lo)} to {format_value(self, self.hi)}"
        if self.lo is not None:
            return f"{kind} ≥ {format_value(self, self.lo)}"
        if self.hi is not None:
            return f"{kind} ≤ {format_value(self, self.hi)}"
        return kind

    def parse(self, raw: str) -> Any:
        """The value of a URL parameter; ValueError (with the reason) if it is not allowed."""
        text = raw.strip()
        if self.kind == "bool":
            if text.lower() in TRUE_WORDS:
                return True
            if text.lower() in FALSE_WORDS:
                return False
            raise ValueError("is not a yes/no value")
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == text:
                    return choice
            raise ValueError("is not one of the choices")
        try:
            number = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        # The range is checked before any arithmetic: 1e307 / step is infinite, and round() of
        # infinity raises OverflowError, not the ValueError that gives a note.
        if not math.isfinite(number):
            raise ValueError("is not a finite number")
        if self.kind == "int" and not number.is_integer():
            raise ValueError("is not a whole number")
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi) or abs(number) > MAX_MAGNITUDE:
            raise ValueError("is out of range")
        number += 0.0  # -0.0 becomes 0.0: the URL is written back from this value, and "-0" is no value to show
        if self.kind == "int":
            return int(number)
        if self.step:
            base = self.lo if self.lo is not None else 0.0
            steps = (number - base) / self.step
            if not math.isfinite(steps):  # a tiny step on an unbounded side
                raise ValueError("is out of range")
            number = round(base + round(steps) * self.step, 10) + 0.0
            # the grid's nearest point may lie a rounding past an end that is not on the grid
            number = min(number, self.hi) if self.hi is not None else number
            number = max(number, self.lo) if self.lo is not None else number
        return number

    def read(self, raw: str) -> tuple[Any, str | None]:
        """What a URL parameter gives the control: ``(value, None)`` for an allowed value, else
        ``(default, note)`` with the note to show on the page (Markdown whose only markup is the
        code span holding the URL's text, see :func:`bad_value_note`)."""
        try:
            return self.parse(raw), None
        except ValueError as why:
            default = self.default_value()
            return default, bad_value_note(self, raw, str(why), default)


def format_value(param: Param, value: Any) -> str:
    """A value as the URL writes it."""
    if param.kind == "bool":
        return "1" if value else "0"
    if param.kind == "int":
        return str(int(value))
    if param.kind == "float":
        return format(float(value) + 0.0, ".10g")  # + 0.0: never "-0"
    return str(value)


# -- a link's own text, shown on the page ----------------------------------------------------------
def shown_text(text: str, limit: int = NOTE_VALUE_CHARS) -> str:
    """Text from outside (a URL's value, a file's name) as a note quotes it: control characters
    (a line break would end the note's Markdown paragraph) written as escapes, cut to ``limit``
    characters with an ellipsis."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "…"


def code_span(text: str) -> str:
    """``text`` as a Markdown code span that shows it verbatim: nothing inside a code span is
    Markdown or HTML (no link, image, emphasis, colour directive or formula), and the fence is a
    run of backticks longer than any run in ``text``, so the text cannot close it. Call it on
    :func:`shown_text`'s output: a code span cannot hold a line break.

    Written by hand: Streamlit has no function that quotes text for its Markdown, and
    backslash-escaping each character would still leave GFM's bare-URL autolinks live."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A backtick at an end would join the fence, so such text is padded with a space on both
    # sides; CommonMark strips one space from each end of a span that has both, so text that
    # starts and ends with a space is padded too, to keep its own.
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == " " and text[-1:] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def bad_value_note(param: Param, raw: str, why: str, default: Any) -> str:
    """The note for a link's value that is not allowed: the parameter and its (cut) value, why,
    what is allowed, and the default shown instead."""
    return (
        f"The link's parameter {code_span(param.param + '=' + shown_text(raw))} {why} (allowed: {param.allowed()}); "
        f"showing the default, {format_value(param, default)}."
    )


@dataclass
class _State:
    page: str | None = None  # url path of the page the last run showed
    entered: bool = True  # this run is the first on its page
    published: dict[str, str] = field(default_factory=dict)  # the query parameters last written
    notes: dict[str, str] = field(default_factory=dict)  # parameter name -> note, for this visit
    params: list[Param] = field(default_factory=list)  # restored during this run, in order
    url_path: str = ""


def _state() -> _State:
    if STATE not in st.session_state:
        st.session_state[STATE] = _State()
    return st.session_state[STATE]


def _raw(name: str) -> str | None:
    values = st.query_params.get_all(name)
    return values[-1] if values else None


# -- presenter mode ----------------------------------------------------------------------------
def presenter_mode() -> bool:
    """Whether this session is in presenter mode (large type, no sidebar nor captions)."""
    return bool(st.session_state.get(PRESENT, False))


def set_presenter_mode(on: bool) -> None:
    st.session_state[PRESENT] = bool(on)


def read_presenter_flag() -> None:
    """``?present=1`` switches presenter mode on, ``?present=0`` off; without the parameter the
    session keeps its mode (it survives navigation: publish writes it back on every page). The
    URL is obeyed only when it says something else than was last written, so a toggle that has
    just switched the mode off is not overruled by the URL it has not yet rewritten."""
    state = _state()
    raw = _raw(PRESENT)
    if raw is None or raw == state.published.get(PRESENT):
        return
    if raw.strip().lower() in TRUE_WORDS:
        set_presenter_mode(True)
    elif raw.strip().lower() in FALSE_WORDS:
        set_presenter_mode(False)
    else:
        st.session_state[PRESENT + "_note"] = (
            f"The link's parameter {code_span(PRESENT + '=' + shown_text(raw))} is not allowed: use 1 or 0. Presenter mode is left as it was."
        )


# -- one page run ------------------------------------------------------------------------------
def begin_page(url_path: str) -> None:
    """Called by app.py before it runs a page (after ``read_presenter_flag``): notes whether
    this is the page's first run in the session, or since another page."""
    state = _state()
    state.entered = state.page != url_path
    state.page = url_path
    state.url_path = url_path
    state.params = []
    if state.entered:
        state.notes = {}


def restore(params: Sequence[Param], *, show_notes: bool = True) -> list[str]:
    """Before a page's widgets: give every parameter's widget key its value in session state.

    On the page's first run, or when the URL changed since it was written, the URL's values are
    applied (valid ones) or noted (invalid ones, which give the default). Otherwise the session's
    values stay, and keys not yet in the session get their default. The notes are shown here
    (``st.warning``) for the rest of the visit unless ``show_notes`` is False; they are returned.
    May be called more than once per run (a range known only later: call it again for that
    parameter just before its widget).
    """
    state = _state()
    names = [p.param for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate query parameter names in {names}")
    incoming = {p.param: _raw(p.param) for p in params}
    changed = any(incoming[n] is not None and incoming[n] != state.published.get(n) for n in names)
    apply = state.entered or changed
    for p in params:
        raw = incoming[p.param]
        if apply and raw is not None:
            state.notes.pop(p.param, None)
            st.session_state[p.key], note = p.read(raw)
            if note:
                state.notes[p.param] = note
        elif p.key not in st.session_state:
            st.session_state[p.key] = p.default_value()
        state.params = [q for q in state.params if q.param != p.param] + [p]
    notes = [state.notes[n] for n in names if n in state.notes]
    if show_notes:
        for note in notes:
            st.warning(note, icon=NOTE_ICON)
    return notes


def current_query(include_presenter: bool = True) -> dict[str, str]:
    """The query parameters that describe this run's view: every restored parameter's current
    value (and ``present=1`` in presenter mode)."""
    state = _state()
    query = {p.param: format_value(p, st.session_state[p.key]) for p in state.params if p.key in st.session_state}
    if include_presenter and presenter_mode():
        query[PRESENT] = "1"
    return query


def publish() -> None:
    """After the page's widgets (app.py calls it after every page run): write the current values
    to the URL, replacing whatever other parameters it had (another page's). Writes only when
    something changed. Inside a fragment that reruns on its own, call it at the fragment's end."""
    state = _state()
    query = current_query()
    shown = {k: _raw(k) for k in st.query_params}
    if shown != query:
        st.query_params.from_dict(query)
    state.published = query


def view_url(include_presenter: bool = False) -> str:
    """The URL of this view: absolute when the browser reported its URL (``st.context.url``),
    else the page's path and query string."""
    query = urlencode(current_query(include_presenter))
    base = None
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        base = None
    if not base:
        base = "/" + _state().url_path
    return base + ("?" + query if query else "")


def link_control(container=None) -> Callable[[], None]:
    """The "link to this view" popover (in ``container``, default: here). Returns a function that
    writes the link into it: call that after the page has run, so the link holds its final values."""
    target = container if container is not None else st
    pop = target.popover("Link to this view", icon=":material/link:", help="Copy a link that opens this page with these settings")
    slot = pop.empty()

    def fill() -> None:
        with slot.container():
            st.code(view_url(), language=None, wrap_lines=True)
            st.caption("The copy button is at the code box's right. The link opens this page with the values set here (presenter mode is not part of it).")

    return fill
