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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import streamlit as st

from ui.links import FALSE_WORDS, TRUE_WORDS, Param, code_span, format_value, shown_text

STATE = "_links"  # session_state key of this module's bookkeeping
PERSONAL = "_links_personal"  # session_state key: the personal parameters kept in the URL (``me``)
PRESENT = "present"  # session flag and query parameter of presenter mode
NOTE_ICON = ":material/link_off:"  # the icon of a note about a link's value


@dataclass
class _State:
    page: str | None = None  # url path of the page the last run showed
    entered: bool = True  # this run is the first on its page
    published: dict[str, str] = field(default_factory=dict)  # the query parameters last written
    notes: dict[str, str] = field(default_factory=dict)  # parameter name -> note, for this visit
    params: list[Param] = field(default_factory=list)  # restored during this run, in order
    private: dict[str, str] = field(default_factory=dict)  # this run's private parameters (keep_private)
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
    state.private = {}
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


def keep_personal(name: str, value: str) -> None:
    """Keep ``name=value`` in this session's URL on every page (a reload or a bookmark keeps it),
    but out of :func:`view_url`: the link someone copies for others carries no personal token."""
    st.session_state.setdefault(PERSONAL, {})[name] = value


def personal_query() -> dict[str, str]:
    return dict(st.session_state.get(PERSONAL, {}))


def keep_private(name: str, value: str) -> None:
    """Keep ``name=value`` in the URL of this page run only (the Class page's teacher key, so a
    teacher's bookmark reopens the class), never in :func:`view_url` nor on the next page."""
    _state().private[name] = value


def read_private(name: str) -> str | None:
    """The URL's value of a private parameter (:func:`keep_private`), if it has one."""
    return _raw(name)


def publish() -> None:
    """After the page's widgets (app.py calls it after every page run): write the current values
    (and the personal and private parameters, :func:`keep_personal`, :func:`keep_private`) to the URL, replacing whatever other
    parameters it had (another page's). Writes only when something changed. Inside a fragment
    that reruns on its own, call it at the fragment's end."""
    state = _state()
    query = {**current_query(), **personal_query(), **_state().private}
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


def personal_url() -> str:
    """This page's URL with only the personal parameters: the link a student bookmarks to find
    their own runs again (not one to share)."""
    query = urlencode(personal_query())
    url_path = _state().url_path
    try:
        base = st.context.url  # Streamlit 1.67: the app's root and the current page's path
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        base = None
    root = (base or "").rstrip("/").removesuffix("/" + url_path)
    path = root + "/" + url_path
    return path + ("?" + query if query else "")


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
