"""Real-browser tests: `streamlit run app.py` on a loopback port, driven by headless Chromium.

Every page of the sidebar is opened by clicking its link, must finish running without an
exception box, is saved as a full-page screenshot under test-output/screenshots/, and must load
nothing from outside the machine (the app works offline). On the clipped-objective page a slider
is moved with the keyboard and a metric must follow.

Needs Debian's Chromium at /usr/bin/chromium; without it the tests are skipped, unless
REQUIRE_BROWSER=1, when they fail.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import re
import pytest
from browser_support import ROOT, wait_for_app

SCREENSHOTS = ROOT / "test-output" / "screenshots"
RUN_TIMEOUT_MS = 180_000  # the first run of a page may import torch and collect a batch

pytestmark = pytest.mark.browser


class Session:
    """One browser tab on the app, recording page errors and any request that leaves the machine."""

    def __init__(self, browser, url: str, viewport=(1400, 900)):
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.page.set_default_timeout(RUN_TIMEOUT_MS)
        self.page_errors: list[str] = []
        self.outside_requests: list[str] = []
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.page.on("request", self._check_request)
        self.page.goto(url)
        wait_for_app(self.page)

    def _check_request(self, request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("http://", "https://", "ws://", "wss://")) and host not in ("127.0.0.1", "localhost"):
            self.outside_requests.append(request.url)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(browser, app_url):
    s = Session(browser, app_url)
    yield s
    s.close()


def full_page_screenshot(page, path: Path) -> None:
    """Screenshot the whole page. Streamlit scrolls its main area inside an element
    (stMain), not the document, so Playwright's full_page sees only one viewport: grow the
    viewport to the main area's scroll height, take the shot, and restore it."""
    size = page.viewport_size
    height = size["height"]
    for _ in range(5):  # charts re-lay out when the viewport grows; repeat until stable
        needed = page.evaluate(
            """() => { const m = document.querySelector('[data-testid="stMain"]');
                       return m ? Math.ceil(m.scrollHeight) : document.documentElement.scrollHeight; }"""
        )
        if needed <= height:
            break
        height = min(needed, 16_000)
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(400)
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


HOME_URL_PATH = "home"


def lesson_pages():
    """(nav title, url path, title the page shows) for every page in the sidebar."""
    from ui.pages import CLASS_PAGES, HOME, LESSONS

    assert HOME.url_path == HOME_URL_PATH
    home_h1 = "PPO, step by step"  # the start page's heading differs from its nav label
    return [(HOME.title, HOME.url_path, home_h1)] + [(p.title, p.url_path, p.title) for p in LESSONS + CLASS_PAGES]


def test_every_page_opens_from_the_sidebar(session):
    from playwright.sync_api import expect

    page = session.page
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = lesson_pages()
    assert nav.locator('[data-testid="stSidebarNavLink"]').count() == len(pages)
    for title, url_path, heading in pages:
        link = nav.locator('[data-testid="stSidebarNavLink"]', has_text=re.compile(rf"{re.escape(title)}\s*$"))  # (after its icon: "Class" is not "Class board")
        expect(link).to_have_count(1)
        link.click()
        # the default page lives at the app's root
        paths = {f"/{url_path}", "/"} if url_path == HOME_URL_PATH else {f"/{url_path}"}
        page.wait_for_url(lambda u, paths=paths: urlparse(u).path in paths)
        wait_for_app(page)
        expect(page.locator("h1", has_text=heading).first).to_be_visible()
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, f"{title}: {exceptions.first.inner_text()}"
        assert page.get_by_role("dialog").count() == 0, f"{title}: {page.get_by_role('dialog').first.inner_text()}"
        full_page_screenshot(page, SCREENSHOTS / f"{url_path}.png")
    assert not session.page_errors, session.page_errors
    assert not session.outside_requests, f"requests left the machine: {session.outside_requests}"


def test_clip_page_slider_moves_with_the_keyboard(session, app_url):
    from playwright.sync_api import expect

    page = session.page
    page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]', has_text="The clipped objective").click()
    page.wait_for_url(f"{app_url}/clipped-objective")
    wait_for_app(page)
    # Streamlit's slider is a visually hidden <input type="range">: its role is implicit, so it is
    # found by role, not by a [role="slider"] attribute.
    slider = page.locator(".st-key-clip_probe")
    thumb = slider.get_by_role("slider")
    expect(thumb).to_have_count(1)
    shown_value = slider.locator('[data-testid="stSliderThumbValue"]')
    metric = page.locator('[data-testid="stMetricValue"]').first
    before_metric, before_value = metric.inner_text(), float(thumb.input_value())
    before_shown = shown_value.inner_text()
    thumb.focus()
    page.keyboard.press("ArrowRight")
    expect(shown_value).not_to_have_text(before_shown)
    expect(metric).not_to_have_text(before_metric)
    wait_for_app(page)
    assert float(thumb.input_value()) > before_value
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not session.page_errors, session.page_errors
