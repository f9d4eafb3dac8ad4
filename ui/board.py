"""The class board: what a teacher's board shows of a class, read from the run store, and its charts.

:func:`board_data` gathers a class's board from the store alone (never the workers): each run's
return curve with its student's name and the value of the setting the assignment varies, the
class's sweep (each run's outcome against that value, with the median per value), the runs
counted by status and the predict answers tallied per question. The chart builders turn it
into Vega-Lite specs, built like :mod:`ui.charts` (a cached template per structure, filled with
named datasets on each redraw: the board redraws every second).

A :class:`CurveReader` keeps the curves it has read, so each redraw parses only the records
that arrived since the last one (:meth:`runs.store.RunStore.records_since`).

No Streamlit here: views/board.py draws the board, runs/admin.py exports it and
scripts/class_benchmark.py times it.
"""

from __future__ import annotations

import copy
import functools
import math
import statistics
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from ppo_core import PRESETS
from ppo_core.config import settings
from runs.store import ACTIVE, STATUSES, AssignmentRow, ClassRow, RunRow, RunStore
from ui.pages import LESSONS
from ui.report import steps_to_target

# The record fields a curve keeps: the trainer's target test needs the episode count too.
CURVE_KEYS = ("global_step", "episode_return_mean", "episodes")
REACHED = "reached"  # the count of runs that reached their target (whatever their status)
# The counts the board shows first, then the rest of the statuses.
MAIN_COUNTS = ("running", "queued", REACHED, "failed")
OTHER_COUNTS = tuple(s for s in STATUSES if s not in MAIN_COUNTS)
STEPS_OUTCOME = "steps to target (reached)"
RETURN_OUTCOME = "final return (did not reach)"
NO_VALUE = "—"  # the label of a run whose config lacks the varied setting
# Colour-blind-safe colours: viridis (ordered) for numbers, Okabe & Ito's palette for choices.
VIRIDIS = {"name": "viridis", "extent": [0.0, 0.85]}  # its last yellow is unreadable on white
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
SETTINGS = settings()
QUESTION_PAGES = {q: page.title for page in LESSONS for q in page.questions}


# -- reading curves ---------------------------------------------------------------------------------


class CurveReader:
    """The return curves of runs as read so far (the record fields of :data:`CURVE_KEYS`).

    Records are only appended, so :meth:`read` asks the store for each run's records past the
    ones it has, in one query. Shared between threads (one reader per server): a lock keeps
    two redraws from reading the same records twice.
    """

    def __init__(self) -> None:
        self._curves: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def read(self, store: RunStore, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each run's curve points so far (a copy), in order."""
        with self._lock:
            since = {rid: len(self._curves.get(rid, ())) for rid in run_ids}
            for rid, records in store.records_since(since).items():
                self._curves.setdefault(rid, []).extend({k: r.get(k) for k in CURVE_KEYS} for r in records)
            return {rid: list(self._curves[rid]) for rid in run_ids}


# -- the board's data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRun:
    """One run as the board shows it."""

    id: str
    student: str
    value: Any  # the run's value of the varied setting (None: not in its config)
    value_label: str
    status: str
    message: str
    config: dict[str, Any]
    curve: list[dict[str, Any]]
    steps_to_target: int | None
    final_return: float | None

    @property
    def reached(self) -> bool:
        return self.steps_to_target is not None

    @property
    def outcome(self) -> tuple[str, float] | None:
        """Its point on the sweep: steps to target if it reached it, else its final return once
        it has ended; None while it trains without having reached it (or ended with no return)."""
        if self.reached:
            return STEPS_OUTCOME, float(self.steps_to_target)
        if self.status not in ACTIVE and _finite(self.final_return):
            return RETURN_OUTCOME, float(self.final_return)
        return None


@dataclass(frozen=True)
class Board:
    """A class's board (see :func:`board_data`). DataFrames:

    - ``curves``: run_id, student, value, global_step, episode_return_mean (one row per record
      with a return);
    - ``sweep``: run_id, student, value, outcome (:data:`STEPS_OUTCOME` or :data:`RETURN_OUTCOME`),
      result: one row per run with an outcome;
    - ``medians``: outcome, value, result (the median of the sweep's results per value), runs;
    - ``answers``: question, page, answer, students, correct (one row per answer given).

    ``value`` columns hold the value's label (:attr:`value_order` is their order); ``counts``
    has every status of runs.store.STATUSES and :data:`REACHED`.
    """

    class_info: ClassRow
    assignment: AssignmentRow | None
    setting: str | None
    setting_title: str
    target: float | None
    runs: list[BoardRun]
    value_order: list[str]
    numeric: bool
    counts: dict[str, int]
    curves: pd.DataFrame
    sweep: pd.DataFrame
    medians: pd.DataFrame
    answers: pd.DataFrame
    students: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, run_id: str) -> BoardRun | None:
        return next((r for r in self.runs if r.id == run_id), None)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def setting_title(name: str | None) -> str:
    """The reader's name of a setting ('Clip range ε'), for the legend and the sweep's axis."""
    if name is None:
        return "student"
    s = SETTINGS.get(name)
    return s.title if s is not None else name


def value_label(name: str | None, value: Any) -> str:
    """A setting's value as the board labels it: ``0.2``, ``0.0003``, a choice's name."""
    if value is None:
        return NO_VALUE
    s = SETTINGS.get(name) if name else None
    if s is not None and s.choices and value in s.choices:
        return s.choices[value]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _target(assignment: AssignmentRow | None, runs: list[RunRow]) -> float | None:
    if assignment is not None and assignment.preset in PRESETS:
        target = assignment.fixed.get("target_return", PRESETS[assignment.preset].target_return)
        if _finite(target):
            return float(target)
    targets = {r.config.get("target_return") for r in runs if _finite(r.config.get("target_return"))}
    return targets.pop() if len(targets) == 1 else None


def pick_assignment(assignments: list[AssignmentRow], assignment_id: str | None) -> AssignmentRow | None:
    """The assignment with this id, else the class's latest one (None: the class has none)."""
    if assignment_id is not None:
        found = next((a for a in assignments if a.id == assignment_id), None)
        if found is None:
            raise ValueError(f"assignment_id: the class has no assignment {assignment_id!r}")
        return found
    return assignments[-1] if assignments else None


def board_data(
    store: RunStore,
    class_id: str,
    *,
    assignment_id: str | None = None,
    setting: str | None = None,
    reader: CurveReader | None = None,
) -> Board:
    """The board of class ``class_id`` from the store: the runs of its assignment (the latest
    one unless ``assignment_id`` says which; runs of the class without an assignment count in
    every one), coloured and swept by ``setting`` (default: the first the assignment varies).

    A run's steps to target and final return are the store's outcome once it has ended, and
    read from its records while it trains (the same test as the trainer's, ui.report). Pass the
    same ``reader`` on every redraw so that only new records are read. ValueError for an
    unknown class or assignment.
    """
    info = store.class_info(class_id)
    if info is None:
        raise ValueError(f"class: no class {class_id!r} in the store")
    assignment = pick_assignment(store.assignments_of(class_id), assignment_id)
    if setting is None and assignment is not None and assignment.varied:
        setting = next(iter(assignment.varied))
    rows = [r for r in store.runs_of(class_id=class_id)
            if assignment is None or r.assignment_id in (None, assignment.id)]
    rows.reverse()  # oldest first: the legend and the run list in the order students started
    students = store.students_of(class_id)
    names = {s.token: s.display_name for s in students}
    curves = (reader or CurveReader()).read(store, [r.id for r in rows])
    target = _target(assignment, rows)

    runs: list[BoardRun] = []
    for r in rows:
        points = curves[r.id]
        own_target = r.config.get("target_return", target)
        reached_at = r.steps_to_target if r.steps_to_target is not None else steps_to_target(points, own_target)
        last = points[-1]["episode_return_mean"] if points else None
        final = r.final_return if r.final_return is not None and r.status not in ACTIVE else last
        value = r.config.get(setting) if setting else None
        student = names.get(r.token, "(not in the class)")
        label = value_label(setting, value) if setting else student
        runs.append(BoardRun(r.id, student, value, label, r.status, r.message, r.config, points, reached_at, final))

    numeric = setting is not None and all(_finite(r.value) for r in runs if r.value is not None)
    labels = {r.value_label: r.value for r in runs}
    if numeric:
        order = sorted((k for k, v in labels.items() if v is not None), key=lambda k: labels[k])
        order += [NO_VALUE] if NO_VALUE in labels else []
    else:
        order = list(labels)  # first come, first listed
    counts = {s: 0 for s in STATUSES} | {REACHED: 0}
    counts.update(Counter(r.status for r in runs))
    counts[REACHED] = sum(r.reached for r in runs)
    return Board(
        class_info=info, assignment=assignment, setting=setting, setting_title=setting_title(setting), target=target,
        runs=runs, value_order=order, numeric=numeric, counts=counts, curves=_curves_frame(runs),
        sweep=(sweep := _sweep_frame(runs)), medians=_medians(sweep, order), answers=tally_answers(store, class_id),
        students=len(students),
    )


def _curves_frame(runs: list[BoardRun]) -> pd.DataFrame:
    rows = [(r.id, r.student, r.value_label, p["global_step"], float(p["episode_return_mean"]))
            for r in runs for p in r.curve if _finite(p["episode_return_mean"]) and p["global_step"] is not None]
    return pd.DataFrame(rows, columns=["run_id", "student", "value", "global_step", "episode_return_mean"]).astype(
        {"global_step": "int64", "episode_return_mean": "float64"})


def _sweep_frame(runs: list[BoardRun]) -> pd.DataFrame:
    rows = [(r.id, r.student, r.value_label, *r.outcome) for r in runs if r.outcome is not None]
    return pd.DataFrame(rows, columns=["run_id", "student", "value", "outcome", "result"]).astype({"result": "float64"})


def _medians(sweep: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The median result per outcome and value (in Python: a groupby and a sort by a custom
    order cost pandas tens of milliseconds, and the board redraws every second)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for outcome, value, result in zip(sweep["outcome"], sweep["value"], sweep["result"]):
        groups.setdefault((outcome, value), []).append(result)
    rank = {v: i for i, v in enumerate(order)}
    rows = [(o, v, statistics.median(rs), len(rs)) for (o, v), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], rank.get(kv[0][1], len(rank))))]
    return pd.DataFrame(rows, columns=["outcome", "value", "result", "runs"]).astype({"result": "float64", "runs": "int64"})


def tally_answers(store: RunStore, class_id: str) -> pd.DataFrame:
    """The class's first answers to each predict question, counted: one row per question and
    answer given (question key, the page that asks it, the answer, how many students gave it,
    whether it is right), questions in the lesson's order, most given answer first."""
    counted = Counter((a.question, a.answer, a.correct) for a in store.class_answers(class_id))
    order = {q: i for i, q in enumerate(QUESTION_PAGES)}
    rows = sorted(((q, QUESTION_PAGES.get(q, q), answer, n, correct) for (q, answer, correct), n in counted.items()),
                  key=lambda row: (order.get(row[0], len(order)), row[0], -row[3], row[2]))
    return pd.DataFrame(rows, columns=["question", "page", "answer", "students", "correct"]).astype({"students": "int64", "correct": "bool"})


# -- charts --------------------------------------------------------------------------------------


def _color_scale(numeric: bool, order: list[str]) -> dict:
    if numeric:
        return {"type": "ordinal", "domain": order, "scheme": VIRIDIS}
    return {"domain": order, "range": [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(order))]}


PICK = "pick"  # the curves chart's click selection (fields: run_id)


@functools.lru_cache(maxsize=16)
def _curves_template(title: str, numeric: bool, with_target: bool, height: int) -> dict:
    kind = "O" if numeric else "N"
    # The click picks the curve point nearest the pointer (an invisible point layer carries the
    # selection): a 2-pixel line is hard to hit, at a projector even more.
    pick = alt.selection_point(name=PICK, fields=["run_id"], on="click", nearest=True, clear="dblclick")
    lines = (
        alt.Chart(alt.Data(name="curves"))
        .mark_line(strokeWidth=2.5, opacity=0.85)
        .encode(
            x=alt.X("global_step:Q", title="environment steps"),
            y=alt.Y("episode_return_mean:Q", title="mean return of the last 20 episodes"),
            color=alt.Color(f"value:{kind}", title=title, legend=alt.Legend(orient="right", symbolStrokeWidth=4)),
            detail=alt.Detail("run_id:N"),
            tooltip=[alt.Tooltip("student:N"), alt.Tooltip("value:N", title=title),
                     alt.Tooltip("global_step:Q", format=","), alt.Tooltip("episode_return_mean:Q", format=".1f", title="return")],
        )
    )
    targets = (
        alt.Chart(alt.Data(name="curves"))
        .mark_point(opacity=0, size=60)
        .encode(x=alt.X("global_step:Q"), y=alt.Y("episode_return_mean:Q"), detail=alt.Detail("run_id:N"),
                tooltip=[alt.Tooltip("student:N"), alt.Tooltip("value:N", title=title),
                         alt.Tooltip("global_step:Q", format=","), alt.Tooltip("episode_return_mean:Q", format=".1f", title="return")])
        .add_params(pick)
    )
    picked = (
        alt.Chart(alt.Data(name="picked"))
        .mark_line(strokeWidth=5, color="#000000")
        .encode(x=alt.X("global_step:Q"), y=alt.Y("episode_return_mean:Q"), tooltip=[alt.Tooltip("student:N")])
    )
    layers = [lines, targets, picked]
    if with_target:
        layers.append(
            alt.Chart(alt.Data(name="target"))
            .mark_rule(strokeDash=[6, 4], color="#555555", size=2)
            .encode(y=alt.Y("target:Q"), tooltip=[alt.Tooltip("target:Q", title="target")])
        )
    return alt.layer(*layers).properties(height=height).to_dict()


def curves_chart(board: Board, picked: str | None = None, *, height: int = 380) -> dict:
    """Every run's return curve overlaid, coloured by the varied setting's value (legend titled
    by the setting's name), the target as a dashed rule, the ``picked`` run drawn thick and
    black on top. A click on a curve selects its run (the selection ``pick``, field ``run_id``).
    A Vega-Lite spec; datasets ``curves``, ``picked`` and ``target``."""
    spec = copy.deepcopy(_curves_template(board.setting_title, board.numeric, board.target is not None, height))
    spec["layer"][0]["encoding"]["color"]["scale"] = _color_scale(board.numeric, board.value_order)
    curves = board.curves
    spec["datasets"] = {"curves": curves, "picked": curves[curves["run_id"] == picked].reset_index(drop=True)}
    if board.target is not None:
        spec["datasets"]["target"] = pd.DataFrame({"target": [board.target]})
    return spec


@functools.lru_cache(maxsize=16)
def _sweep_template(title: str, numeric: bool, height: int) -> dict:
    kind = "O" if numeric else "N"
    x = alt.X(f"value:{kind}", title=title, axis=alt.Axis(labelAngle=0))
    runs = (
        alt.Chart()
        .transform_filter("datum.kind === 'run'")
        .mark_circle(size=160, opacity=0.8, stroke="#000000", strokeWidth=0.5)
        .encode(
            x=x,
            y=alt.Y("result:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color(f"value:{kind}", title=title, legend=None),
            tooltip=[alt.Tooltip("student:N"), alt.Tooltip("value:N", title=title), alt.Tooltip("result:Q", format=",.1f")],
        )
    )
    medians = (
        alt.Chart()
        .transform_filter("datum.kind === 'median'")
        .mark_tick(thickness=4, size=46, color="#000000")
        .encode(
            x=x,
            y=alt.Y("result:Q"),
            tooltip=[alt.Tooltip("value:N", title=title), alt.Tooltip("result:Q", format=",.1f", title="median"),
                     alt.Tooltip("runs:Q", title="runs")],
        )
    )
    chart = (
        alt.layer(runs, medians, data=alt.Data(name="sweep"))
        .properties(height=height, width=alt.Step(70))
        .facet(row=alt.Row("outcome:N", title=None, sort=[STEPS_OUTCOME, RETURN_OUTCOME], header=alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top")))
        .resolve_scale(y="independent")
    )
    return chart.to_dict()


def sweep_chart(board: Board, *, height: int = 200) -> dict:
    """The class's sweep: each run's outcome against the varied setting's value (a dot per run,
    coloured as on the curves), the median per value as a black tick; one row for the runs that
    reached the target (steps to target: lower is faster), one for those that ended without
    (their final return). A Vega-Lite spec; dataset ``sweep`` (column ``kind``: run or median)."""
    spec = copy.deepcopy(_sweep_template(board.setting_title, board.numeric, height))
    scale = _color_scale(board.numeric, board.value_order)
    spec["spec"]["layer"][0]["encoding"]["color"]["scale"] = scale
    for layer in spec["spec"]["layer"]:
        layer["encoding"]["x"]["scale"] = {"domain": board.value_order}
    dots = board.sweep.assign(kind="run", runs=1)
    ticks = board.medians.assign(kind="median", student="", run_id="")
    columns = ["kind", "run_id", "student", "value", "outcome", "result", "runs"]
    spec["datasets"] = {"sweep": pd.concat([dots[columns], ticks[columns]], ignore_index=True)}
    return spec


def board_spec(board: Board, *, width: int = 720) -> dict:
    """The curves above the sweep in one spec (for a PNG of the board), titled by the class."""
    parts = [curves_chart(board), sweep_chart(board)]
    parts[0]["width"] = width
    datasets: dict[str, Any] = {}
    for part in parts:
        datasets.update(part.pop("datasets"))
    schema = parts[0].pop("$schema", None)
    for part in parts:
        part.pop("$schema", None)
        part.pop("config", None)
    title = board.class_info.name + (f" · {board.setting_title}" if board.setting else "")
    spec = {"vconcat": parts, "datasets": datasets, "title": title}
    if schema:
        spec["$schema"] = schema
    return spec


def run_label(run: BoardRun, board: Board) -> str:
    """A run as the board's run list names it (plain text): student, value, status."""
    setting = f" · {board.setting_title} {run.value_label}" if board.setting else ""
    return f"{run.student}{setting} · {run.status} · {run.id}"
