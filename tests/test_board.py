"""The class board's data (ui.board) from a store prepared directly, on SQLite and PostgreSQL:
each run's curve with its student and ε, the sweep and its medians (recomputed here from the
records, by hand), the counts, the answers tallied; the store's records_since; the curve reader
reading only what is new. The page and the admin command have their own files."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest

from pg_support import postgres_server, store_url  # noqa: F401 - fixtures, used by name
from ppo_core import PRESETS
from runs.store import RunStore
from ui import board as ui_board

TARGET = PRESETS["cartpole"].target_return  # 475


def curve(updates: int, slope: float, *, episodes_per_update: int = 4, nan_batch: bool = False) -> list[dict]:
    """Synthetic records as a worker sends them: no return before the first episode ends,
    then a straight line; each with its batch lists (one NaN in them if asked: a diverging
    run's lists hold NaN, which must survive the store on both engines)."""
    out = []
    for k in range(1, updates + 1):
        out.append({
            "update": k, "global_step": 256 * k, "wall_s": 0.05 * k,
            "episode_return_mean": None if k == 1 else slope * k, "episodes": episodes_per_update * (k - 1),
            "policy_loss": -0.01 * k,
            "batch_ratio": [1.0, float("nan") if nan_batch else 1.1, 0.9], "batch_advantage": [0.5, -0.5, 0.1],
        })
    return out


def first_reach(records: list[dict], target: float) -> int | None:
    """The trainer's test, written out again here: 20 episodes finished and their mean ≥ target."""
    for r in records:
        if r["episode_return_mean"] is not None and r["episodes"] >= 20 and r["episode_return_mean"] >= target:
            return r["global_step"]
    return None


class Classroom:
    """A class with an assignment over ε, six students and their runs, written straight to the store."""

    def __init__(self, store: RunStore):
        self.store = store
        self.cls = store.create_class("Period 3")
        store.create_assignment(self.cls.class_id, "cartpole", {"clip_coef": [0.3]})  # an older one
        self.old_run = self._run(store.join_class(self.cls.join_code, "Early").token, 0.3, "finished", curve(5, 50),
                                 assignment=store.assignments_of(self.cls.class_id)[0].id)
        self.assignment = store.create_assignment(self.cls.class_id, "cartpole", {"clip_coef": [0.1, 0.2, 0.3]}, step_budget=50_000)
        self.names = ["Ana", "Bo", "**Cy** <b>", "Dee", "Eve", "Fay"]
        tokens = [store.join_class(self.cls.join_code, n).token for n in self.names]
        # (student, ε, status, records, outcome stored at the end or None)
        plan = [
            (0, 0.1, "finished", curve(30, 20.0), "store"),  # reaches 475 at update 24 (return 480, 92 episodes)
            (1, 0.1, "finished", curve(40, 13.0), "store"),  # at update 37
            (2, 0.2, "running", curve(12, 45.0), None),  # reached while still training: read from its records
            (3, 0.2, "failed", curve(8, 10.0, nan_batch=True), None),  # ended without: its last return
            (4, 0.3, "queued", [], None),  # no record yet: no curve, no sweep point
            (5, 0.3, "finished", curve(20, 6.0), "store"),  # budget spent: final return 120
            (5, 0.2, "diverged", curve(6, 30.0, nan_batch=True), None),  # Fay's second run
        ]
        self.runs = []
        for who, eps, status, records, outcome in plan:
            run_id = self._run(tokens[who], eps, status, records, outcome=outcome)
            self.runs.append((run_id, self.names[who], eps, status, records))
        other = store.create_class("Another class")
        stranger = store.join_class(other.join_code, "Ana").token
        self.foreign_run = store.create_run(stranger, "cartpole", PRESETS["cartpole"].to_dict(), 1, class_id=other.class_id)
        store.append_records(self.foreign_run, curve(3, 1.0), 0)
        store.record_answer(tokens[0], "clip", "the ratio stops moving", True)
        store.record_answer(tokens[1], "clip", "the ratio stops moving", True)
        store.record_answer(tokens[2], "clip", "nothing changes", False)
        store.record_answer(tokens[2], "loop_is", "it explodes", True)
        store.record_answer(tokens[0], "clip", "a second answer is not a prediction", False)  # not kept
        store.record_answer(stranger, "clip", "nothing changes", False)  # another class

    def _run(self, token, eps, status, records, outcome=None, assignment=None):
        config = PRESETS["cartpole"].replace(clip_coef=eps).to_dict()
        run_id = self.store.create_run(token, "cartpole", config, 1, class_id=self.cls.class_id,
                                       assignment_id=assignment or self.assignment, status="running")
        if records:
            self.store.append_records(run_id, records, 0)
        if outcome == "store":
            reached = first_reach(records, TARGET)
            self.store.set_outcome(run_id, reached_target=reached is not None, steps_to_target=reached,
                                   final_return=records[-1]["episode_return_mean"])
        self.store.set_status(run_id, status)
        return run_id


@pytest.fixture
def classroom(store_url):
    with RunStore(store_url) as store:
        yield Classroom(store)


def test_each_run_of_the_latest_assignment_has_its_curve_student_and_value(classroom):
    board = ui_board.board_data(classroom.store, classroom.cls.class_id)
    assert board.assignment.id == classroom.assignment
    assert board.setting == "clip_coef" and board.setting_title == "Clip range ε"
    assert board.target == TARGET
    assert [r.id for r in board.runs] == [run_id for run_id, *_ in classroom.runs]  # oldest first, no other class or assignment
    assert board.value_order == ["0.1", "0.2", "0.3"] and board.numeric
    for run_id, name, eps, _status, records in classroom.runs:
        rows = board.curves[board.curves["run_id"] == run_id]
        expected = [(r["global_step"], r["episode_return_mean"]) for r in records if r["episode_return_mean"] is not None]
        assert list(zip(rows["global_step"], rows["episode_return_mean"])) == expected
        assert set(rows["student"]) <= {name} and set(rows["value"]) <= {f"{eps:g}"}
        assert board.run(run_id).student == name  # the name as typed, markup characters and all
    assert board.students == 7  # Early and the six


def test_the_sweep_has_each_ended_or_reached_run_and_the_median_per_value(classroom):
    board = ui_board.board_data(classroom.store, classroom.cls.class_id)
    expected_points = {}
    for run_id, _name, eps, status, records in classroom.runs:
        reached = first_reach(records, TARGET)
        if reached is not None:
            expected_points[run_id] = ("steps to target (reached)", f"{eps:g}", float(reached))
        elif status not in ("queued", "running", "paused") and records:
            expected_points[run_id] = ("final return (did not reach)", f"{eps:g}", float(records[-1]["episode_return_mean"]))
    got = {row.run_id: (row.outcome, row.value, row.result) for row in board.sweep.itertuples()}
    assert got == expected_points
    assert len(got) == 6  # the queued run has no point yet
    by_value: dict[tuple[str, str], list[float]] = {}
    for outcome, value, result in expected_points.values():
        by_value.setdefault((outcome, value), []).append(result)
    medians = {(m.outcome, m.value): (m.result, m.runs) for m in board.medians.itertuples()}
    assert medians == {k: (statistics.median(v), len(v)) for k, v in by_value.items()}
    # ε 0.1: both reached, at updates 24 and 37: the median is between them
    assert medians[("steps to target (reached)", "0.1")] == (256 * (24 + 37) / 2, 2)


def test_the_counts_and_the_answers_tallied(classroom):
    board = ui_board.board_data(classroom.store, classroom.cls.class_id)
    statuses = Counter(status for *_, status, _records in classroom.runs)
    for status in ("queued", "running", "paused", "finished", "stopped", "diverged", "failed", "interrupted"):
        assert board.counts[status] == statuses.get(status, 0), status
    assert board.counts["reached"] == sum(first_reach(rec, TARGET) is not None for *_, rec in classroom.runs) == 3
    rows = [(a.question, a.answer, a.students, a.correct) for a in board.answers.itertuples()]
    # questions in the lesson's order (page 1's before page 4's), the most given answer first
    assert rows == [("loop_is", "it explodes", 1, True),
                    ("clip", "the ratio stops moving", 2, True), ("clip", "nothing changes", 1, False)]
    assert list(board.answers["page"]) == ["1 · The loop and the policy gradient"] + ["4 · The clipped objective"] * 2


def test_an_older_assignment_and_an_unknown_class(classroom):
    older = classroom.store.assignments_of(classroom.cls.class_id)[0]
    board = ui_board.board_data(classroom.store, classroom.cls.class_id, assignment_id=older.id)
    assert [r.id for r in board.runs] == [classroom.old_run]
    with pytest.raises(ValueError, match="^class: no class 'nope'"):
        ui_board.board_data(classroom.store, "nope")
    with pytest.raises(ValueError, match="^assignment_id: the class has no assignment 'nope'"):
        ui_board.board_data(classroom.store, classroom.cls.class_id, assignment_id="nope")


def test_records_since_reads_several_runs_from_where_each_was_left(classroom):
    store = classroom.store
    (a, *_rest, records_a), (b, *_r, records_b) = classroom.runs[0], classroom.runs[1]
    got = store.records_since({a: 28, b: 0, "no-such-run": 0})
    assert got[a] == records_a[28:] and len(got[a]) == 2
    assert got[b] == records_b
    assert got["no-such-run"] == []
    nan_run = classroom.runs[3]
    ratio = store.records_since({nan_run[0]: 0})[nan_run[0]][0]["batch_ratio"]
    assert math.isnan(ratio[1])  # NaN round-trips on both engines
    assert store.records_since({}) == {}
    with pytest.raises(ValueError, match="^since: each first seq must be an integer ≥ 0"):
        store.records_since({a: -1})


def test_the_curve_reader_parses_each_record_once(classroom, monkeypatch):
    store, (run_id, *_r, records) = classroom.store, classroom.runs[2]
    asked = []
    real = store.records_since
    monkeypatch.setattr(store, "records_since", lambda since: asked.append(dict(since)) or real(since))
    reader = ui_board.CurveReader()
    first = reader.read(store, [run_id])
    store.append_records(run_id, curve(14, 45.0)[12:], 12)  # two more updates
    second = reader.read(store, [run_id])
    assert asked == [{run_id: 0}, {run_id: 12}]
    assert len(first[run_id]) == 12 and len(second[run_id]) == 14
    assert [p["global_step"] for p in second[run_id]] == [256 * k for k in range(1, 15)]
    assert set(second[run_id][0]) == {"global_step", "episode_return_mean", "episodes"}  # no batch lists kept


def test_the_charts_colour_by_the_setting_and_draw_the_sweep(classroom):
    board = ui_board.board_data(classroom.store, classroom.cls.class_id)
    picked = classroom.runs[0][0]
    spec = ui_board.curves_chart(board, picked)
    color = spec["layer"][0]["encoding"]["color"]
    assert color["title"] == "Clip range ε" and color["scale"]["domain"] == ["0.1", "0.2", "0.3"]
    assert color["scale"]["scheme"]["name"] == "viridis"  # colour-blind-safe, ordered
    assert set(spec["datasets"]["picked"]["run_id"]) == {picked}
    assert any(p.get("name") == ui_board.PICK for p in spec.get("params", []))
    sweep = ui_board.sweep_chart(board)["datasets"]["sweep"]
    assert (sweep["kind"] == "run").sum() == len(board.sweep) and (sweep["kind"] == "median").sum() == len(board.medians)
