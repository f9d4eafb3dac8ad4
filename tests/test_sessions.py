"""The sessions registry the run manager reads, and the session-scoped resource that fills it."""

from runs.manager import SESSIONS, SessionRegistry


def test_the_registry_tells_connected_released_and_unknown_sessions_apart():
    reg = SessionRegistry()
    assert reg.count() is None and reg.alive("a") is None  # nothing seen yet: cannot tell
    reg.open("a")
    reg.open("b")
    assert reg.count() == 2 and reg.alive("a") is True
    reg.release("a")
    assert reg.count() == 1 and reg.alive("a") is False and reg.alive("c") is None
    reg.open("a")  # the same session reconnected: its runs are its own again
    assert reg.count() == 2 and reg.alive("a") is True
    reg.release("a")
    reg.release("b")
    assert reg.count() == 0


def test_a_released_id_is_forgotten_after_an_hour(monkeypatch):
    import runs.manager as manager

    reg = SessionRegistry()
    now = [1000.0]
    monkeypatch.setattr(manager.time, "monotonic", lambda: now[0])
    reg.open("old")
    reg.release("old")
    now[0] += SessionRegistry.FORGET_AFTER_S + 1
    reg.open("new")
    reg.release("new")  # each release prunes what is long gone
    assert reg.alive("old") is None and reg.alive("new") is False


def test_opening_the_app_marks_its_session_connected_under_the_id_its_runs_get(open_page):
    at = open_page("lessons/home.py")
    sid = at.session_state["run_session_id"]
    assert SESSIONS.alive(sid) is True and SESSIONS.count() >= 1
    at.run()
    assert at.session_state["run_session_id"] == sid  # one id for the session's whole life
