"""axe-core's accessibility checks on every page, in a real browser.

axe-core (the npm package pinned in tests/axe/package.json; `npm ci --prefix tests/axe`, which
.ci/run does) is injected into each page by Playwright and run on the whole document, at a
student's laptop size (1366×768) and at a projector's (1920×1080) in presenter mode (?present=1).
No serious or critical violation may remain, with one exception, which is Streamlit's and not the
app's:

- ``list`` / ``listitem`` inside the sidebar's navigation (``stSidebarNav``): Streamlit 1.67 puts
  the section headers ("Start", "The lesson") as <div>s directly inside the <ul>, and the <li>s in
  <div>s outside it. The app only passes st.navigation its pages. These two rules are dropped for
  nodes inside the sidebar's navigation only; anywhere else they count.

Each page is checked twice: once at the viewport's size, and once with the viewport grown to the
page's full height at the same width. Streamlit scrolls its main area inside an element, so axe
cannot compute the colour contrast of text below the first screen (it reports it "incomplete");
in the tall viewport every text is on screen and is checked.

The violations found are written to test-output/axe/<size>-<page>.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_support import ROOT, wait_for_app
from conftest import require_installed

pytestmark = pytest.mark.browser

AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
OUTPUT = ROOT / "test-output" / "axe"
SERIOUS = {"serious", "critical"}
NAV = '[data-testid="stSidebarNav"]'
STREAMLIT_NAV_RULES = {"list", "listitem"}  # see the module docstring
SIZES = {"laptop": ((1366, 768), ""), "projector": ((1920, 1080), "?present=1")}


def page_paths() -> list[str]:
    from ui.pages import CLASS_PAGES, HOME, LESSONS

    return [HOME.url_path] + [p.url_path for p in LESSONS + CLASS_PAGES]


def require_axe() -> None:
    require_installed(AXE, "axe-core", "npm ci --prefix tests/axe")


def run_axe(page) -> list[dict]:
    """axe's violations on the page as it is, each with ``nodes`` outside Streamlit's sidebar
    navigation for the two rules of the module docstring."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async (nav) => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({
                    target: n.target, html: n.html.slice(0, 300), summary: n.failureSummary,
                    in_nav: (() => { const el = document.querySelector(n.target[n.target.length - 1]);
                                     return !!(el && el.closest(nav)); })(),
                })),
            }));
        }""",
        NAV,
    )
    out = []
    for v in violations:
        if v["id"] in STREAMLIT_NAV_RULES:
            v["nodes"] = [n for n in v["nodes"] if not n["in_nav"]]
        if v["nodes"]:
            out.append(v)
    return out


def grow_to_full_height(page, width: int) -> None:
    needed = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return m ? Math.ceil(m.scrollHeight) : document.documentElement.scrollHeight; }"""
    )
    page.set_viewport_size({"width": width, "height": min(max(needed, 768), 14_000)})
    page.wait_for_timeout(800)  # charts re-lay out to the new size
    wait_for_app(page, settle_ms=200)


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_has_no_serious_accessibility_violation(browser, app_url, size):
    require_axe()
    (width, height), query = SIZES[size]
    OUTPUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(180_000)
    failures = []
    try:
        for path in page_paths():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{app_url}/{path}{query}")
            wait_for_app(page)
            assert page.locator("h1").count() >= 1, f"{path}: the page did not draw"
            found = run_axe(page)
            grow_to_full_height(page, width)
            seen = {v["id"] for v in found}
            found += [v for v in run_axe(page) if v["id"] not in seen]
            (OUTPUT / f"{size}-{path}.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
            for v in found:
                if v["impact"] in SERIOUS:
                    first = v["nodes"][0]
                    failures.append(f"{path}: {v['impact']} {v['id']} ({v['help']}) on {len(v['nodes'])} node(s), e.g. {first['html'][:160]}")
    finally:
        context.close()
    assert not failures, "\n".join(failures)
