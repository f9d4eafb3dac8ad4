"""PPO, step by step: the entry point. `streamlit run app.py`."""

import streamlit as st

from runs.manager import get_scheduler
from views import links, presenter
from ui.pages import CLASS_PAGES, HOME, LESSONS
from views import session


def main() -> None:
    st.set_page_config(page_title="PPO, step by step", page_icon="🎯", layout="wide")
    pages = [st.Page(HOME.path, title=HOME.title, url_path=HOME.url_path, icon=HOME.icon, default=True)] + [
        st.Page(p.path, title=p.title, url_path=p.url_path, icon=p.icon) for p in LESSONS
    ]
    class_pages = [st.Page(p.path, title=p.title, url_path=p.url_path, icon=p.icon) for p in CLASS_PAGES]
    # Presenter mode is read from the URL before the navigation: it moves the menu to the top,
    # since the sidebar is hidden.
    links.read_presenter_flag()
    page = st.navigation({"Start": pages[:1], "The lesson": pages[1:], "Class": class_pages}, position="top" if links.presenter_mode() else "sidebar")
    links.begin_page(page.url_path)
    # This session counts as connected (with PPO_STOP_ON_DISCONNECT=1 its runs stop once it ends),
    # and the server's scheduler exists: it keeps one training worker imported and waiting while anyone is connected, so
    # Start on the training page shows a first point within a second, not after torch's import.
    session.session_id()
    session.student_token()  # ?me=: read once, then kept in the URL on every page
    get_scheduler()

    active_runs = [r for r in st.session_state.get("train_runs", []) if r.active]
    if active_runs and page.url_path != "training":

        @st.fragment(run_every=2.0)
        def heartbeat() -> None:
            """Show this session's runs while the student reads another page, and poll them: the
            heartbeat that keeps them where the server cannot tell whether the session is connected."""
            for run in active_runs:
                run.poll()
            running = [r for r in active_runs if r.active]
            if running:
                last = running[-1].records[-1] if running[-1].records else {}
                st.caption(f"Training in the background: {last.get('global_step', 0):,} steps, {running[-1].state}.")

        with st.sidebar:
            heartbeat()

    fill_link = presenter.page_bar(pages + class_pages, page)
    page.run()
    links.publish()  # the URL follows the page's controls (and keeps present=1)
    fill_link()


# Streamlit runs this file as __main__; a training worker, spawned by multiprocessing, imports it
# as __mp_main__ and must not start the app (nor spawn workers of its own).
if __name__ == "__main__":
    main()
