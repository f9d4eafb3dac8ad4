"""Classroom features in a real browser (headless Chromium on `streamlit run app.py`): a prepared
link opens the view it describes, presenter mode survives navigation, and a predict-then-reveal
answer reaches the count on the home page. Nothing is loaded from outside the machine.

Needs Debian's Chromium at /usr/bin/chromium (see tests/test_browser.py).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import metric, wait_for_app
from test_browser import Session

pytestmark = pytest.mark.browser


@pytest.fixture
def open_session(browser):
    opened = []

    def _open(url: str) -> Session:
        s = Session(browser, url)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        assert not s.page_errors, s.page_errors
        assert not s.outside_requests, f"requests left the machine: {s.outside_requests}"
        s.close()


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def font_px(locator) -> float:
    return float(locator.evaluate("el => getComputedStyle(el).fontSize").removesuffix("px"))


def test_prepared_link_opens_its_view(open_session, app_url):
    from playwright.sync_api import expect

    session = open_session(f"{app_url}/clipped-objective?clip_eps=0.1&clip_probe=1.2")
    page = session.page
    no_exception(page)
    eps = page.locator(".st-key-clip_eps")
    probe = page.locator(".st-key-clip_probe")
    assert float(eps.get_by_role("slider").input_value()) == pytest.approx(0.1)
    assert float(probe.get_by_role("slider").input_value()) == pytest.approx(1.2)
    expect(eps.locator('[data-testid="stSliderThumbValue"]')).to_have_text("0.10")
    # |A| = 1: r·A = 1.2, clip(r, 0.9, 1.1)·A = 1.1, L^CLIP = min = 1.1
    expect(metric(page, "L^CLIP = min").first).to_have_text("+1.100")
    # the URL now lists every control of the page
    q = query(page)
    assert q["clip_eps"] == "0.1" and q["clip_probe"] == "1.2" and q["clip_adv"] == "1"
    # the link to this view is absolute and holds the values
    page.get_by_role("button", name=re.compile("Link to this view")).click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]')
    expect(code).to_contain_text(f"{app_url}/clipped-objective?clip_eps=0.1&")
    page.keyboard.press("Escape")
    # moving a control rewrites the URL
    thumb = probe.get_by_role("slider")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"clip_probe=1\.21"))
    wait_for_app(page)
    expect(metric(page, "L^CLIP = min").first).to_have_text("+1.100")
    no_exception(page)


def test_bad_link_value_gives_a_note(open_session, app_url):
    from playwright.sync_api import expect

    page = open_session(f"{app_url}/clipped-objective?clip_eps=9").page
    expect(page.locator('[data-testid="stAlertContainer"]', has_text="clip_eps=9").first).to_contain_text("from 0.05 to 0.5")
    assert float(page.locator(".st-key-clip_eps").get_by_role("slider").input_value()) == pytest.approx(0.2)
    assert query(page)["clip_eps"] == "0.2"
    no_exception(page)


def test_presenter_mode_survives_navigation(open_session, app_url):
    from playwright.sync_api import expect

    page = open_session(f"{app_url}/?present=1").page
    no_exception(page)

    def check_presenter() -> None:
        expect(page.locator(".ppo-presenter")).to_have_count(1)
        expect(page.locator(".st-key-presenter_bar")).to_be_visible()
        expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
        expect(page.locator('[data-testid="stTopNav"]')).to_be_visible()
        assert font_px(page.locator("h1").first) >= 48
        assert font_px(page.locator('[data-testid="stMarkdownContainer"] p').first) >= 24
        assert query(page).get("present") == "1"

    check_presenter()
    page.locator(".st-key-presenter_bar").get_by_role("link", name=re.compile("Next: 1 · The loop")).click()
    page.wait_for_url(lambda u: urlparse(u).path == "/loop")
    wait_for_app(page)
    no_exception(page)
    page.wait_for_url(re.compile(r"present=1"))
    check_presenter()
    expect(page.locator("h1", has_text="1 · The loop and the policy gradient")).to_be_visible()
    # secondary text is hidden
    expect(page.locator('[data-testid="stCaptionContainer"]').first).to_be_hidden()
    # the way out: the toggle in the bar
    page.locator(".st-key-presenter_bar").get_by_text("Presenter mode").click()
    wait_for_app(page)
    expect(page.locator(".ppo-presenter")).to_have_count(0)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_visible()
    assert "present" not in query(page)


def test_predict_answer_reaches_the_home_page(open_session, app_url):
    from playwright.sync_api import expect

    from ui.pages import QUESTIONS

    page = open_session(f"{app_url}/clipped-objective").page
    page.locator('[data-testid="stRadio"]').get_by_text("No, the clip stops its gradient").click()
    wait_for_app(page)
    expect(page.get_by_text("Right: No, the clip stops its gradient")).to_be_visible()
    expect(page.get_by_text("With Â < 0 the objective wants r smaller", exact=False)).to_be_visible()
    page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]', has_text="The PPO loop").click()
    page.wait_for_url(lambda u: urlparse(u).path in ("/", "/home"))
    wait_for_app(page)
    no_exception(page)
    expect(page.get_by_text(f"1 of {len(QUESTIONS)} answered, 1 right at the first try")).to_be_visible()
