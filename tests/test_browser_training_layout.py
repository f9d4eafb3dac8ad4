"""Real-browser layout of the live-training page (issue 13): it fits a student's 1366×768 laptop
and a 1920×1080 projector in presenter mode, during a run and after it.

At each size: no horizontal scroll (neither the document nor Streamlit's main scroll area is
wider than the window), every chart within the window's width, the return chart's top inside the
first screen after Start, the diagnostics' panels and the batch plots tall and wide enough to
read. Screenshots of the first screen are saved in test-output/ (during and after the run).

A short run (a step budget of 20 updates in the link) so that "after" comes within seconds on an
idle machine; every wait ends on a state the page reports, with generous safety nets.
"""

from __future__ import annotations

import pytest

from browser_support import ROOT, button, metric_text, number, wait_for_app
from test_browser_training import wait_for_state

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-output"
STATE_TIMEOUT_S = 240
BUDGET = 5120  # 10 updates of the cartpole preset's 512 steps
SIZES = [(1366, 768, ""), (1920, 1080, "&present=1")]
MIN_PANEL = (200, 120)  # px: a diagnostics panel narrower or lower than this cannot be read
MIN_BATCH_HEIGHT = 200


def layout(page) -> dict:
    return page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(e => {
                const r = e.getBoundingClientRect();
                return {top: r.top, left: r.left, right: r.right, width: r.width, height: r.height,
                        text: e.getAttribute('aria-label') || ''};
            });
            return {scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth, innerHeight: innerHeight,
                    mainScroll: main ? main.scrollWidth : 0, mainClient: main ? main.clientWidth : 0, charts};
        }"""
    )


def fits(box: dict, where: str) -> None:
    assert box["scrollWidth"] <= box["innerWidth"], f"{where}: the page scrolls sideways ({box['scrollWidth']} > {box['innerWidth']} px)"
    assert box["mainScroll"] <= box["mainClient"], f"{where}: the main area scrolls sideways ({box['mainScroll']} > {box['mainClient']} px)"
    wide = [c for c in box["charts"] if c["right"] > box["innerWidth"] + 1]
    assert not wide, f"{where}: charts reach past the window's right edge: {wide}"


def wait_for_charts(page, count: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]').length >= {count}",
                           timeout=STATE_TIMEOUT_S * 1000)


def drawn_layout(page, count: int) -> dict:
    """The layout once ``count`` charts are on the page and every one is drawn: vega-embed draws
    a chart after it is placed (and again when its data change), and one being drawn is 0 px high."""
    wait_for_charts(page, count)
    for _ in range(STATE_TIMEOUT_S * 2):
        box = layout(page)
        if len(box["charts"]) >= count and all(c["height"] > 0 for c in box["charts"]):
            return box
        page.wait_for_timeout(500)
    pytest.fail(f"charts still being drawn after {STATE_TIMEOUT_S} s: {box['charts']}")


@pytest.mark.parametrize("width, height, present", SIZES, ids=["1366x768", "1920x1080-present"])
def test_the_training_page_fits_the_screen_during_and_after_a_run(browser, server, width, height, present):
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/training?total_steps={BUDGET}{present}")
        wait_for_app(page)
        fits(layout(page), "before Start")
        # at full speed the 20 updates take two seconds: at the pace of one every 0.5 s, "during" lasts 10 s
        page.locator(".st-key-train_pace").get_by_role("combobox").click()
        page.get_by_role("option", name="an update every 0.5 s").click()
        wait_for_app(page)
        button(page, "train_start").click()
        # during: the first update has come (the return chart, the diagnostics and the batch plots drawn)
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
                   m => m.innerText.includes('Steps done') && parseInt(m.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, '')) > 0)""",
            timeout=STATE_TIMEOUT_S * 1000,
        )
        during = drawn_layout(page, 3)
        assert metric_text(page, "State") == "training", "the run ended before the page was measured during it"
        page.screenshot(path=str(SHOTS / f"training_{width}x{height}_during.png"))
        fits(during, "during the run")
        ret = during["charts"][0]  # the return chart comes first on the page
        assert ret["top"] < during["innerHeight"], f"the return chart starts at {ret['top']:.0f} px, below the first screen ({during['innerHeight']} px)"
        wait_for_state(page, "finished", STATE_TIMEOUT_S)
        # The buttons follow within a redraw or two: a run that ended between the buttons and the
        # live view (its records are read by a thread) must not leave Stop enabled and Start not.
        page.wait_for_selector(".st-key-train_stop button[disabled]", timeout=5000)
        page.wait_for_selector(".st-key-train_start button:not([disabled])", timeout=5000)
        after = drawn_layout(page, 10)  # 7 diagnostics' panels with the return chart and the two batch plots
        fits(after, "after the run")
        charts = after["charts"]
        panels, batch = charts[1:-2], charts[-2:]
        small = [c for c in panels if c["width"] < MIN_PANEL[0] or c["height"] < MIN_PANEL[1]]
        assert len(panels) >= 7 and not small, f"unreadable diagnostics panels: {small}"
        assert all(c["height"] >= MIN_BATCH_HEIGHT for c in batch), f"the batch plots are squashed: {batch}"
        page.locator('[data-testid="stMain"]').evaluate("m => m.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / f"training_{width}x{height}_after.png"))
        page.locator('[data-testid="stVegaLiteChart"]').nth(1).scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"training_{width}x{height}_charts.png"))
        assert number(metric_text(page, "Steps done")) == BUDGET  # 10 updates cannot reach 475: it ran to its budget
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
    finally:
        if page.locator(".st-key-train_stop button:not([disabled])").count():
            button(page, "train_stop").click()
        context.close()
