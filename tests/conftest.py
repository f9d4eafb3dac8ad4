import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a preset to its target (minutes); run in CI too")
    config.addinivalue_line("markers", "browser: drives the app in headless Chromium")


@pytest.fixture(autouse=True, scope="session")
def _exception_details_in_test_reports():
    """AppTests run in this process with the project's .streamlit/config.toml, whose
    showErrorDetails = "type" keeps an exception's message and traceback off the page; a failing
    test's report needs them. (Streamlit reads STREAMLIT_* variables only through its command
    line, so this is set here; the browser tests' servers keep the file's value.)"""
    import streamlit as st

    st.set_option("client.showErrorDetails", "full")


@pytest.fixture(autouse=True, scope="session")
def _run_store_in_a_temporary_folder(tmp_path_factory):
    """The app's run store (runs.manager.get_store, opened by the AppTests' shared scheduler) is
    a SQLite file in a temporary folder: no test writes ./data, nor a DATABASE_URL it was given."""
    import os

    saved = {k: os.environ.get(k) for k in ("PPO_DATA_DIR", "DATABASE_URL")}
    os.environ["PPO_DATA_DIR"] = str(tmp_path_factory.mktemp("app-data"))
    os.environ.pop("DATABASE_URL", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    torch.set_num_threads(1)


APP = str(ROOT / "app.py")


@pytest.fixture
def open_page():
    """open_page("lessons/x.py") -> an AppTest of the whole app, switched to that page and run."""
    from streamlit.testing.v1 import AppTest

    def _open(page: str, timeout: float = 120):
        at = AppTest.from_file(APP, default_timeout=timeout)
        # run once first: switch_page finds a page by the url_path st.navigation registers only
        # after app.py has run
        at.run()
        at.switch_page(page).run()
        return at

    return _open


@pytest.fixture
def at(open_page, request):
    """The page named by the test module's PAGE, run once without an exception."""
    app = open_page(request.module.PAGE)
    assert not app.exception
    return app


def chart_datasets(at) -> list[list]:
    """For each Altair/Vega-Lite chart on the page (in order): (spec dict, [DataFrame per dataset]).

    Streamlit sends a chart's spec as JSON and its data as named Arrow tables beside it.
    """
    import json

    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        frames = [arrow_frame(d.data.data) for d in el.proto.datasets]
        out.append((spec, frames))
    return out


def arrow_frame(data: bytes):
    """One Arrow IPC stream, as Streamlit sends a chart's dataset, read back as a DataFrame
    (with pyarrow's public reader: Streamlit's own converter is not a public API)."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all().to_pandas()


def named_datasets(chart) -> dict:
    """Every named dataset of one chart element, as DataFrames: inline in its spec, or Arrow
    tables beside it (where Streamlit moves a chart's named datasets)."""
    import json

    import pandas as pd

    spec = json.loads(chart.proto.spec)
    out = {name: pd.DataFrame(rows) for name, rows in spec.get("datasets", {}).items()}
    for named in chart.proto.datasets:
        out[named.name] = arrow_frame(named.data.data)
    return out


# -- browser tests: one server and one Chromium per test module -------------------------------
def require_installed(path, what: str, how: str) -> None:
    """Skip unless ``path`` exists (``what`` is missing; ``how`` installs it); with
    REQUIRE_BROWSER=1 (CI) fail instead, so that a browser test is never skipped there."""
    import os

    if path.exists():
        return
    message = f"{what} not found at {path} ({how})"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; REQUIRE_BROWSER=1 makes it a failure", pytrace=False)
    pytest.skip(message)


def require_chromium() -> None:
    """Skip without Debian's Chromium; with REQUIRE_BROWSER=1 (CI) fail instead."""
    from browser_support import CHROMIUM

    require_installed(CHROMIUM, "Chromium", "Debian: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` on a free loopback port, healthy, for this module's tests; its whole
    process group is killed at teardown."""
    from browser_support import StreamlitServer

    require_chromium()
    try:
        srv = StreamlitServer(tmp_path_factory.mktemp("streamlit") / "server.log")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with srv:
        yield srv


@pytest.fixture(scope="module")
def app_url(server) -> str:
    return server.url


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (which cannot download its own here)."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def rerun_until(at, condition, what: str, timeout: float = 120):
    """Rerun an AppTest every half second until ``condition(at)`` holds (no exception on the
    way); fail naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if condition(at):
            return
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout} s"
        time.sleep(0.5)


def table_reference_rollout(preset: str, seed: int = 0, warmup: int | None = None):
    """The page's rollout, rebuilt here from ppo_core without the page's cache: one environment,
    5 warm-up updates, 24 steps, placed as the page places them (CartPole: 16-step time limit,
    first stretch showing every ending; Pendulum: its time limit on row 15)."""
    from ppo_core.lesson import lesson_table_rollout
    from views.lesson_data import TABLE_ROWS, TABLE_TIME_LIMIT, TABLE_TIME_LIMIT_ROW, TABLE_WARMUP

    return lesson_table_rollout(
        preset, seed, TABLE_WARMUP if warmup is None else warmup, TABLE_ROWS,
        TABLE_TIME_LIMIT.get(preset), TABLE_TIME_LIMIT_ROW.get(preset),
    )
