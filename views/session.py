"""This browser session's tie to the run manager, through Streamlit's public session lifetime.

A run stops when the browser session that started it ends (tab closed, page reloaded), so that
thirty students' forgotten runs do not hold the server's cores. Streamlit tells us through a
session-scoped resource: ``st.cache_resource(scope="session")`` keeps one value per session and
calls ``on_release`` with it when the session disconnects (Streamlit clears a session's
resources as its websocket closes, and again if the session is shut down). The run manager's
:data:`~runs.manager.SESSIONS` registry hears of it, and its watchdog stops that session's runs
after a short grace (a network blip reconnects within it).

The id is ours, kept in the session state: a session that reconnects keeps its state (for
``server.disconnectedSessionTTL`` seconds) and its runs, and its next script run (the browser
asks for one on reconnecting while a timer fragment is on the page) opens the same id again.
"""

from __future__ import annotations

import uuid

import streamlit as st

from runs.manager import SESSIONS

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
