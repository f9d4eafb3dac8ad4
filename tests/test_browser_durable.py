"""Real-browser test of the run store seen from the training page: a student's finished run is
listed again after a reload, and after the server process is stopped and started again, and it
opens with the numbers it finished with.

The server runs as the README starts it (`streamlit run app.py`), with its run store in a
temporary folder (PPO_DATA_DIR), and the personal token travels in the URL (`?me=`), as a
student's bookmark keeps it. Needs Debian's Chromium at /usr/bin/chromium (skipped without it,
unless REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import StreamlitServer, button, metric, metric_text, number, open_page, page_text, wait_for_app
from conftest import require_chromium
from test_browser_training import wait_for_state

pytestmark = pytest.mark.browser

FINISH_TIMEOUT_S = 900  # the cartpole preset stops at its target in seconds; this catches a hang


def token_of(url: str) -> str | None:
    values = parse_qs(urlparse(url).query).get("me")
    return values[-1] if values else None


def open_my_run(page, attempts: int = 3) -> None:
    """Unfold "Your runs (1)" and press Open on the run it selects (the newest), until the run's
    State metric is drawn. A press that lands while the page reruns can hit an element that the
    rerun then replaces (seen once in CI under load): the press is lost, so it is made again;
    opening the same run twice is harmless."""
    open_button = page.locator(".st-key-train_open button").filter(visible=True)
    for _ in range(attempts):
        if open_button.count() == 0:  # the list is folded (or was redrawn folded)
            page.get_by_text(re.compile(r"^Your runs \(1\)$")).click()
        open_button.first.click()
        try:
            metric(page, "State").first.wait_for(state="visible", timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            wait_for_app(page)
    pytest.fail(f"Open did not draw the run after {attempts} presses; the page reads: {page_text(page)}")


def test_a_finished_run_is_listed_after_a_reload_and_a_server_restart(browser, tmp_path, monkeypatch):
    require_chromium()
    monkeypatch.setenv("PPO_DATA_DIR", str(tmp_path / "data"))  # both servers share this store
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with StreamlitServer(tmp_path / "first.log") as first:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(first.url + "/training")
        wait_for_app(page)
        page.wait_for_url(re.compile(r".*[?&]me=[A-Za-z0-9_-]+"))
        token = token_of(page.url)
        button(page, "train_start").click()
        wait_for_state(page, "finished", FINISH_TIMEOUT_S)
        steps = number(metric_text(page, "Steps done"))
        ret = metric_text(page, "Mean return, last 20 episodes")
        assert steps and steps > 0

        page.reload()
        wait_for_app(page)
        assert token_of(page.url) == token  # the reload kept the student's token
        open_my_run(page)
        wait_for_state(page, "finished")
        assert number(metric_text(page, "Steps done")) == steps
        assert metric_text(page, "Mean return, last 20 episodes") == ret
        assert page.locator('[data-testid="stException"]').count() == 0
        context.close()

    with StreamlitServer(tmp_path / "second.log") as second:  # a new server process, the same store
        context, page = open_page(browser, f"{second.url}/training?me={token}")
        open_my_run(page)
        wait_for_state(page, "finished")
        assert number(metric_text(page, "Steps done")) == steps
        assert metric_text(page, "Mean return, last 20 episodes") == ret
        # the return curve is drawn from the stored records
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible")
        assert page.locator('[data-testid="stException"]').count() == 0
        context.close()
