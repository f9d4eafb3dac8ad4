"""What a student gets from `streamlit run app.py` (the README's command, no flags), in headless
Chromium: no Deploy button, no "Clear cache" (menu or the C key), no request leaving the machine,
a link's hostile values shown as plain text, and a stray exception without its traceback.

Needs Debian's Chromium at /usr/bin/chromium (see tests/test_browser.py).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_support import ROOT, StreamlitServer, cmdline, wait_for_app
from test_browser import Session

pytestmark = pytest.mark.browser


def test_the_server_runs_the_readmes_command(server):
    assert server.command == [sys.executable, "-m", "streamlit", "run", "app.py"]
    assert cmdline(server.pid).split() == server.command


def test_no_developer_options_and_nothing_from_outside(browser, app_url):
    from playwright.sync_api import expect

    session = Session(browser, app_url)
    page = session.page
    try:
        expect(page.locator('[data-testid="stMainMenu"]')).to_be_visible()
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
        page.locator('[data-testid="stMainMenuButton"]').click()
        menu = page.locator('[data-testid="stMainMenuPopover"]')
        expect(menu).to_contain_text("Print")  # the menu is open, with the viewer's options
        assert "Clear cache" not in menu.inner_text() and "Rerun" not in menu.inner_text(), menu.inner_text()
        page.keyboard.press("Escape")
        expect(menu).to_have_count(0)
        page.locator("body").press("c")  # the developer's shortcut for "Clear cache"
        page.locator('[data-testid="stMainMenuButton"]').click()  # a round trip through the page after the key
        expect(menu).to_contain_text("Print")
        assert page.locator('[data-testid="stClearCacheDialog"]').count() == 0
        assert page.get_by_role("dialog").count() == 0
        page.keyboard.press("Escape")
        # a second page: its load must stay on the machine too
        page.goto(f"{app_url}/clipped-objective")
        wait_for_app(page)
        assert not session.page_errors, session.page_errors
        assert not session.outside_requests, f"requests left the machine: {session.outside_requests}"
    finally:
        session.close()


HOSTILE = {
    "clip_eps": "![i](http://evil.test/a.png)",
    "clip_adv": "[x](http://evil.test/)",
    "clip_probe": "<img src=http://evil.test/b.png onerror=alert(1)>",
    "clip_beta": "`x` ``y`` http://evil.test/c",
    "clip_kl_target": "1e307",
    "present": "![p](http://evil.test/p.png)",
}


def test_a_links_hostile_values_are_shown_as_plain_text(browser, app_url):
    from playwright.sync_api import expect

    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in HOSTILE.items())
    session = Session(browser, f"{app_url}/clipped-objective?{query}")
    page = session.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        notes = page.locator('[data-testid="stAlertContainer"]', has_text="The link's parameter")
        expect(notes).to_have_count(len(HOSTILE))
        quoted = set()
        for i in range(notes.count()):
            note = notes.nth(i)
            assert note.locator("a, img, [src], [href]").count() == 0, note.inner_html()
            (code,) = note.locator("code").all()
            quoted.add(code.text_content())
        assert quoted == {f"{k}={v if len(v) <= 40 else v[:40] + '…'}" for k, v in HOSTILE.items()}  # cut at 40
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('img[src*="evil"], a[href*="evil"]').count() == 0
        assert not dialogs and not session.page_errors, (dialogs, session.page_errors)
        assert not session.outside_requests, f"requests left the machine: {session.outside_requests}"
    finally:
        session.close()


BROKEN_APP = '''import streamlit as st

st.title("A page with a bug")
raise RuntimeError("secret detail: /srv/ppo/config.py")
'''


def test_a_stray_exception_shows_its_type_and_the_server_logs_the_rest(browser, tmp_path):
    """The project's config.toml beside an app that raises: the browser gets the exception's type
    and a generic message, without the message or a traceback; the server's log has both."""
    from playwright.sync_api import expect

    (tmp_path / ".streamlit").mkdir()
    shutil.copy(ROOT / ".streamlit" / "config.toml", tmp_path / ".streamlit" / "config.toml")
    (tmp_path / "app.py").write_text(BROKEN_APP)
    with StreamlitServer(tmp_path / "server.log", cwd=tmp_path) as srv:
        session = Session(browser, srv.url)
        try:
            shown = session.page.locator('[data-testid="stException"]')
            expect(shown).to_contain_text("RuntimeError")
            text = shown.inner_text()
            assert "secret detail" not in text and "/srv/ppo" not in text and "app.py" not in text and "Ask Google" not in text, text
            assert session.page.locator('[data-testid="stExceptionTraceRow"]').count() == 0  # no traceback lines
        finally:
            session.close()
        deadline = time.monotonic() + 30
        while "secret detail" not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = srv.log()
    assert "RuntimeError: secret detail: /srv/ppo/config.py" in log and "Traceback" in log, log
