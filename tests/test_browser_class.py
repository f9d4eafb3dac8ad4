"""Real-browser test of the Class page: a teacher creates a class and sets an assignment, a
student in a browser context of their own joins with the code shown and trains; the run is
stored in the class, and the teacher key appears nowhere on the student's side.

The server runs as the README starts it, with its run store in a temporary folder
(PPO_DATA_DIR). Needs Debian's Chromium at /usr/bin/chromium (skipped without it, unless
REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import StreamlitServer, button, wait_for_app
from conftest import require_chromium
from ppo_core import PRESETS
from runs.store import RunStore
from test_browser_training import wait_for_state

pytestmark = pytest.mark.browser

BUDGET = 10 * PRESETS["cartpole"].batch_size
FINISH_TIMEOUT_S = 600


def type_into(page, key: str, text: str) -> None:
    """Type into the text or number box with ``key`` and commit it (Enter), as a person does."""
    box = page.locator(f".st-key-{key} input")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page)


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_a_teacher_creates_a_class_and_a_student_joins_and_trains(browser, tmp_path, monkeypatch):
    require_chromium()
    data = tmp_path / "data"
    monkeypatch.setenv("PPO_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with StreamlitServer(tmp_path / "server.log") as server:
        teacher = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        teacher.set_default_timeout(60_000)
        teacher.goto(server.url + "/class")
        wait_for_app(teacher)
        type_into(teacher, "class_new_name", "Tuesday lab")
        button(teacher, "class_create").click()
        wait_for_app(teacher)
        code = teacher.locator(".ppo-join-code").inner_text().strip()
        assert re.fullmatch(r"[0-9A-Z]{3}-[0-9A-Z]{3}", code), code
        teacher.wait_for_url(re.compile(r".*[?&]key="))
        key, class_id = query(teacher)["key"], query(teacher)["class"]
        teacher.get_by_text(re.compile(r"^Teacher link \(keep")).click()
        codes = [c.strip() for c in teacher.locator('[data-testid="stCode"]').all_inner_texts()]
        assert f"{server.url}/class?class={class_id}&key={key}" in codes, codes
        assert not [c for c in codes if "me=" in c], codes  # the link to this view has no token
        type_into(teacher, "class_budget", str(BUDGET))  # ε (the default choice) varies, the rest is fixed
        button(teacher, "class_assign").click()
        wait_for_app(teacher)
        teacher.get_by_text("Assignment set").wait_for()

        context = browser.new_context(viewport={"width": 1366, "height": 900})
        student = context.new_page()
        student.set_default_timeout(60_000)
        student.goto(server.url + "/class")
        wait_for_app(student)
        type_into(student, "class_join_code", code.lower())
        type_into(student, "class_join_name", "<b>Ana</b>")
        button(student, "class_join").click()
        wait_for_app(student)
        student.get_by_text("You are: <b>Ana</b>").wait_for()  # the name as typed, not as markup
        me = query(student)["me"]
        student.goto(f"{server.url}/training?me={me}")
        wait_for_app(student)
        student.get_by_text("Your class's assignment").wait_for()
        assert student.locator(".st-key-train_preset").count() == 0  # the assignment's preset, no choice
        assert student.locator(".st-key-train_cartpole_clip_coef").count() == 1
        assert student.locator(".st-key-train_cartpole_learning_rate").count() == 0
        student.get_by_text(re.compile(r"^Your runs \(0\)$")).click()
        personal = [c.strip() for c in student.locator('[data-testid="stCode"]').all_inner_texts() if "me=" in c]
        assert personal == [f"{server.url}/training?me={me}"]  # the page's path once (it was doubled)
        button(student, "train_start").click()
        wait_for_state(student, "finished", FINISH_TIMEOUT_S)
        html = student.content()
        assert key not in html and key not in student.url and class_id not in student.url
        assert student.locator('[data-testid="stException"]').count() == 0
        context.close()

    with RunStore.open(data_dir=data) as store:
        [run] = store.runs_of(token=me)
        [assignment] = store.assignments_of(class_id)
        assert (run.class_id, run.assignment_id, run.status) == (class_id, assignment.id, "finished")
        assert run.config["total_steps"] == BUDGET and run.last_step > 0
        assert [s.display_name for s in store.students_of(class_id)] == ["<b>Ana</b>"]
