"""PPO, step by step: the entry point. `streamlit run app.py`."""

import streamlit as st

from ui import links, presenter
from ui.pages import HOME, LESSONS
from ui.runner import get_scheduler


def connected_sessions() -> int | None:
    """Browser sessions connected to this server, from Streamlit's runtime (None if unknown)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    return Runtime.instance()._session_mgr.num_active_sessions()  # no public API for the count


def session_connected(session_id: str) -> bool | None:
    """Is this browser session still connected (None if unknown)? A closed tab or a reloaded
    page disconnects its session at once, so its runs can stop within seconds."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    alive = Runtime.instance()._session_mgr.is_active_session(session_id)  # no public API either
    return alive if isinstance(alive, bool) else None  # (AppTest's runtime is a mock)


def main() -> None:
    st.set_page_config(page_title="PPO, step by step", page_icon="🎯", layout="wide")
    pages = [st.Page(HOME.path, title=HOME.title, url_path=HOME.url_path, icon=HOME.icon, default=True)] + [
        st.Page(p.path, title=p.title, url_path=p.url_path, icon=p.icon) for p in LESSONS
    ]
    # Presenter mode is read from the URL before the navigation: it moves the menu to the top,
    # since the sidebar is hidden.
    links.read_presenter_flag()
    page = st.navigation({"Start": pages[:1], "The lesson": pages[1:]}, position="top" if links.presenter_mode() else "sidebar")
    links.begin_page(page.url_path)
    # Keep one training worker imported and waiting while anyone uses the app, so pressing Start
    # on the training page shows a first point within a second instead of after torch's import.
    scheduler = get_scheduler()
    scheduler.open_sessions = connected_sessions
    scheduler.session_alive = session_connected
    scheduler.warm_up()

    active_runs = [r for r in st.session_state.get("train_runs", []) if r.active]
    if active_runs and page.url_path != "training":

        @st.fragment(run_every=2.0)
        def heartbeat() -> None:
            """Keep this session's runs alive while the student reads another page: a run is
            stopped once its session has not polled it for a few seconds (tab closed or reloaded)."""
            for run in active_runs:
                run.poll()
            running = [r for r in active_runs if r.active]
            if running:
                last = running[-1].records[-1] if running[-1].records else {}
                st.caption(f"Training in the background: {last.get('global_step', 0):,} steps, {running[-1].state}.")

        with st.sidebar:
            heartbeat()

    fill_link = presenter.page_bar(pages, page)
    page.run()
    links.publish()  # the URL follows the page's controls (and keeps present=1)
    fill_link()


# Streamlit runs this file as __main__; a training worker, spawned by multiprocessing, imports it
# as __mp_main__ and must not start the app (nor spawn workers of its own).
if __name__ == "__main__":
    main()
