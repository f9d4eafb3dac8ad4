"""Two replicas of the app behind nginx, sharing PostgreSQL and a Ray cluster (deploy/run_local.py).

A student's browser reaches one replica for good (the sticky cookie); a run started there, in
the student's class, trains on Ray and is written to the shared database. The teacher's class
board, served by the other replica, shows it; and the same student on the other replica finds
the run and opens it with the numbers it finished with. Needs Debian's nginx, PostgreSQL and
Chromium, and Ray (each skipped without, unless CI requires it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
import sys
import urllib.request

import pytest

from browser_support import button, metric_text, number, wait_for_app
from conftest import ROOT, require_chromium
from pg_support import postgres_server  # noqa: F401 - fixture, used by name
from ray_support import ray_cluster  # noqa: F401 - fixture, used by name
from runs.store import RunStore, new_student_token
from test_browser_durable import open_my_run
from test_browser_training import wait_for_state

sys.path.insert(0, str(ROOT / "deploy"))
from run_local import NGINX, LocalDeployment  # noqa: E402

pytestmark = pytest.mark.browser
FINISH_TIMEOUT_S = 900


def replica_of(url: str, cookie: str) -> str:
    req = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"ppo_replica={cookie}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["X-PPO-Replica"]


@pytest.fixture
def deployment(postgres_server, ray_cluster, tmp_path):  # noqa: F811 - fixtures
    if not (shutil.which("nginx") or Path(NGINX).exists()):
        message = "nginx is not installed (Debian: apt-get install -y nginx)"
        if os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_RAY") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server.database() as url:
        with LocalDeployment(url, replicas=2, ray_address=ray_cluster, state_dir=tmp_path / "deploy") as d:
            yield d, url


def test_a_run_started_on_one_replica_is_listed_and_opened_on_the_other(browser, deployment):
    require_chromium()
    d, database_url = deployment
    # Two sticky cookies that nginx routes to different replicas.
    routes: dict[str, str] = {}
    for i in range(64):
        routes.setdefault(replica_of(d.url, f"c{i}"), f"c{i}")
        if len(routes) == 2:
            break
    assert sorted(routes) == sorted(u.removeprefix("http://") for u in d.replica_urls)
    (first, cookie_a), (second, cookie_b) = sorted(routes.items())
    assert replica_of(d.url, cookie_a) == first  # the same cookie, the same replica: sticky
    token = new_student_token()
    with RunStore(database_url) as store:
        new_class = store.create_class("Replicated lab")
        store.create_assignment(new_class.class_id, "cartpole", {"clip_coef": []})
        store.join_class(new_class.join_code, "Ada", token=token)

    def open_on(cookie: str, path: str, viewport=(1366, 768)):
        """A browser of its own, routed by ``cookie`` to one replica, opened at ``path``."""
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        context.add_cookies([{"name": "ppo_replica", "value": cookie, "url": d.url}])
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{d.url}{path}")
        wait_for_app(page)
        return context, page

    def student_on(cookie: str):
        return open_on(cookie, f"/training?me={token}")

    context_a, page_a = student_on(cookie_a)
    button(page_a, "train_start").click()
    wait_for_state(page_a, "finished", FINISH_TIMEOUT_S)
    steps = number(metric_text(page_a, "Steps done"))
    ret = metric_text(page_a, "Mean return, last 20 episodes")
    assert steps and steps > 0

    with RunStore(database_url) as store:
        (row,) = store.runs_of(token=token)
        assert row.status == "finished" and row.executor.startswith("ray actor ")  # trained on the cluster
        assert row.class_id == new_class.class_id

    # The teacher's board, on the other replica, reads the shared store.
    teacher, board = open_on(cookie_b, f"/board?class={new_class.class_id}&key={new_class.teacher_key}", (1920, 1080))
    board.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m => m.innerText.includes('Reached the target')
                 && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === '1')""", timeout=60_000)
    assert metric_text(board, "Runs") == "1" and metric_text(board, "Students") == "1"
    assert board.locator('[data-testid="stException"]').count() == 0
    teacher.close()

    context_b, page_b = student_on(cookie_b)  # the other replica
    open_my_run(page_b)
    wait_for_state(page_b, "finished")
    assert number(metric_text(page_b, "Steps done")) == steps
    assert metric_text(page_b, "Mean return, last 20 episodes") == ret
    for page in (page_a, page_b):
        assert page.locator('[data-testid="stException"]').count() == 0
    context_a.close()
    context_b.close()
