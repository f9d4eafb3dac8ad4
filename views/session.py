"""This browser session's tie to the run manager, through Streamlit's public session lifetime.

The run manager needs to know which sessions are connected: it keeps a warm spare worker while
anyone is, and with ``PPO_STOP_ON_DISCONNECT=1`` it stops a run when the browser session that
started it ends (tab closed, page reloaded), for a server that must not spend CPU on closed
tabs (by default a run trains on: it is kept in the run store). Streamlit tells us through a
session-scoped resource: ``st.cache_resource(scope="session")`` keeps one value per session and
calls ``on_release`` with it when the session disconnects (Streamlit clears a session's
resources as its websocket closes, and again if the session is shut down). The run manager's
:data:`~runs.manager.SESSIONS` registry hears of it; with stop-on-disconnect its watchdog stops
that session's runs after a short grace (a network blip reconnects within it).

The id is ours, kept in the session state: a session that reconnects keeps its state (for
``server.disconnectedSessionTTL`` seconds) and its runs, and its next script run (the browser
asks for one on reconnecting while a timer fragment is on the page) opens the same id again.
"""

from __future__ import annotations

import uuid

import streamlit as st

from runs.manager import SESSIONS
from runs.store import is_student_token, new_student_token
from ui.links import code_span, shown_text
from views.links import keep_personal

_ID_KEY = "run_session_id"


@st.cache_resource(scope="session", on_release=SESSIONS.release, show_spinner=False)
def _connection(session_id: str) -> str:
    """Cached once per session (per id): opening the id is the side effect; the release hook
    gets the cached value, the id, when Streamlit lets the session's resources go."""
    SESSIONS.open(session_id)
    return session_id


def session_id() -> str:
    """This session's id for the run manager, marked connected (call it on every script run)."""
    sid = st.session_state.setdefault(_ID_KEY, uuid.uuid4().hex)
    return _connection(sid)


# -- the student's personal token --------------------------------------------------------------
TOKEN_PARAM = "me"  # the query parameter that holds it
_TOKEN_KEY = "student_token"


def student_token() -> str:
    """This student's personal token (runs.store), which ties their runs to them across reloads,
    tabs and server restarts. Read from ``?me=`` on the session's first call; a value that is not
    a token gets a plain-text note and a new token; without one a new token is made. Either way
    it is kept in the URL from then on (views.links.keep_personal), so a reload or a bookmark
    keeps it, but never in the "link to this view" that a student shares."""
    token = st.session_state.get(_TOKEN_KEY)
    if token is None:
        raw = st.query_params.get(TOKEN_PARAM)
        if raw is not None and is_student_token(raw):
            token = raw
        else:
            if raw is not None:
                st.session_state[_TOKEN_KEY + "_note"] = (
                    f"The link's parameter {code_span(TOKEN_PARAM + '=' + shown_text(raw))} is not a personal token "
                    f"(22 letters, digits, - or _): this page made you a new one, so the runs of that link are not shown here."
                )
            token = new_student_token()
        st.session_state[_TOKEN_KEY] = token
    keep_personal(TOKEN_PARAM, token)
    return token


def token_note() -> str | None:
    """The note about a bad ``me=`` value, if the session's link had one."""
    return st.session_state.get(_TOKEN_KEY + "_note")
