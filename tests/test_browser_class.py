"""Real-browser tests of a class: a teacher creates a class and sets an assignment, a student
in a browser context of their own joins with the code shown and trains; the run is stored in the
class, and the teacher key appears nowhere on the student's side. Then a class of three: each
student chooses another ε and trains, the teacher's board shows their three curves and sweep
points, a student's reload keeps their run, and a restarted server still lists every run.

The server runs as the README starts it, with its run store in a temporary folder
(PPO_DATA_DIR). Needs Debian's Chromium at /usr/bin/chromium (skipped without it, unless
REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from browser_support import StreamlitServer, button, metric_text, open_page, wait_for_app
from conftest import require_chromium
from ppo_core import PRESETS
from runs.store import RunStore
from test_browser_durable import open_my_run
from test_browser_training import wait_for_state
from ui.board import board_data

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


def new_class(browser, url: str, name: str) -> tuple:
    """The teacher's page after creating the class ``name`` with its assignment (ε varies, a step
    budget of BUDGET): (page, join code, class id, teacher key)."""
    teacher = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    teacher.set_default_timeout(60_000)
    teacher.goto(url + "/class")
    wait_for_app(teacher)
    type_into(teacher, "class_new_name", name)
    button(teacher, "class_create").click()
    wait_for_app(teacher)
    code = teacher.locator(".ppo-join-code").inner_text().strip()
    teacher.wait_for_url(re.compile(r".*[?&]key="))
    type_into(teacher, "class_budget", str(BUDGET))
    button(teacher, "class_assign").click()
    wait_for_app(teacher)
    teacher.get_by_text("Assignment set").wait_for()
    return teacher, code, query(teacher)["class"], query(teacher)["key"]


def join(browser, url: str, code: str, name: str):
    """A student's own browser context, joined to the class as ``name``, on the training page."""
    context, page = open_page(browser, url + "/class")
    type_into(page, "class_join_code", code)
    type_into(page, "class_join_name", name)
    button(page, "class_join").click()
    wait_for_app(page)
    page.get_by_text(f"You are: {name}").wait_for()
    page.goto(f"{url}/training?me={query(page)['me']}")
    wait_for_app(page)
    page.get_by_text("Your class's assignment").wait_for()
    return context, page


def choose_epsilon(page, presses: int) -> str:
    """Move the ε slider by keyboard, ``presses`` steps of 0.01 (negative: down); its new value."""
    thumb = page.locator(".st-key-train_cartpole_clip_coef input[type='range']")  # the slider's keyboard handle
    for _ in range(abs(presses)):  # one at a time: each moved value reruns the page, which may take focus
        thumb.press("ArrowRight" if presses > 0 else "ArrowLeft")
        wait_for_app(page, settle_ms=100)
    return thumb.input_value()


def test_three_students_train_with_their_own_epsilon_and_the_board_shows_all_three(browser, tmp_path, monkeypatch):
    require_chromium()
    data = tmp_path / "data"
    monkeypatch.setenv("PPO_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    choices = {"Ada": -10, "Grace": 0, "Alan": 10}  # ε = 0.1, the preset's 0.2, 0.3

    with StreamlitServer(tmp_path / "first.log") as server:
        teacher, code, class_id, key = new_class(browser, server.url, "Thursday lab")
        students = {name: join(browser, server.url, code, name) for name in choices}
        for name, presses in choices.items():
            _, page = students[name]
            assert choose_epsilon(page, presses) == f"{0.2 + presses / 100:g}"
        for _, page in students.values():  # three Starts, close together as in a room
            button(page, "train_start").click()
        for _, page in students.values():
            wait_for_state(page, "finished", FINISH_TIMEOUT_S)

        # The Class page's "Open the class board" (a link to a new tab), opened in the teacher's context.
        board_link = teacher.get_by_role("link", name=re.compile("Open the class board")).get_attribute("href")
        assert board_link == f"{server.url}/board?class={class_id}&key={key}"
        board = teacher.context.new_page()
        board.set_default_timeout(60_000)
        board.goto(board_link)
        wait_for_app(board)
        board.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m => m.innerText.includes('Runs')
                     && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === '3')""", timeout=60_000)
        assert metric_text(board, "Students") == "3"
        assert board.locator('[data-testid="stVegaLiteChart"]').count() >= 2  # the curves and the sweep
        assert board.locator('[data-testid="stException"]').count() == 0
        with RunStore.open(data_dir=data) as store:  # what the board draws, from the same store
            drawn = board_data(store, class_id)
            assert sorted(drawn.curves.groupby("run_id")["value"].first()) == ["0.1", "0.2", "0.3"]
            assert sorted(zip(drawn.sweep["student"], drawn.sweep["value"])) == [("Ada", "0.1"), ("Alan", "0.3"), ("Grace", "0.2")]

        context, page = students["Ada"]  # a reload keeps her run
        page.reload()
        wait_for_app(page)
        open_my_run(page)
        wait_for_state(page, "finished")
        for context, _ in students.values():
            context.close()
        teacher.context.close()

    with StreamlitServer(tmp_path / "second.log") as server:  # a new server process, the same store
        with RunStore.open(data_dir=data) as store:
            tokens = {s.display_name: s.token for s in store.students_of(class_id)}
        assert sorted(tokens) == sorted(choices)
        for name, token in tokens.items():
            context, page = open_page(browser, f"{server.url}/training?me={token}")
            open_my_run(page)
            wait_for_state(page, "finished")
            context.close()
        context, board = open_page(browser, f"{server.url}/board?class={class_id}&key={key}", (1920, 1080))
        assert metric_text(board, "Runs", timeout_ms=30_000) == "3"
        context.close()
