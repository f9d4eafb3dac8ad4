"""Save docs/clip_page.png, the README's picture: the clipped-objective page at 1400×900.

    python scripts/screenshot_clip_page.py [--out docs/clip_page.png]

Starts `streamlit run app.py` on a free loopback port and drives Debian's Chromium
(/usr/bin/chromium) with Playwright, with the browser tests' set-up (tests/browser_support.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_for_app

URL_PATH = "clipped-objective"
VIEWPORT = {"width": 1400, "height": 900}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "clip_page.png")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"Chromium not found at {CHROMIUM} (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import expect, sync_playwright

    args.out.parent.mkdir(parents=True, exist_ok=True)
    os.environ["STREAMLIT_CLIENT_TOOLBAR_MODE"] = "viewer"  # no "Deploy" button in the picture
    with tempfile.TemporaryDirectory() as tmp, StreamlitServer(Path(tmp) / "server.log") as server:
        url = server.url
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                # The very first session of a fresh server, opened on a deep link, shows a spurious
                # "Page not found" dialog over the right page: open the start page first.
                page.goto(url)
                wait_for_app(page)
                page.goto(f"{url}/{URL_PATH}")
                wait_for_app(page)
                if page.get_by_role("dialog").count():
                    print("a dialog covers the page; no screenshot saved", file=sys.stderr)
                    return 1
                # the clip plots are drawn: both charts hold a rendered canvas or svg
                charts = page.locator('[data-testid="stVegaLiteChart"]')
                expect(charts.first).to_be_visible()
                expect(charts.nth(1).locator("canvas, svg").first).to_be_visible()
                if page.locator('[data-testid="stException"]').count():
                    print("the page shows an exception; no screenshot saved", file=sys.stderr)
                    return 1
                page.wait_for_timeout(500)  # let the charts' entry transitions finish
                page.screenshot(path=str(args.out))
            finally:
                browser.close()
    print(f"saved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
