"""Class benchmark (not a test): 30 students of one class train the cartpole preset, each with their
own ε, while the teacher's board redraws every second.

    python scripts/class_benchmark.py                  # 30 students, a fresh SQLite store
    python scripts/class_benchmark.py --students 10 --database postgresql+psycopg://user@host/db

The students' sessions are driven here, server-side, as the app drives them (no browsers): one
RunScheduler and one RunStore, as the server has; a class with an assignment that varies the
clip range ε; each student joins with the join code (a personal token each) and submits one
cartpole run with their own ε and ``stop_at_target``; every run is polled once a second, as its
student's training page would. Meanwhile the board (ui.board: its data read from the store and
its two charts built, exactly what the board page does each second) is timed once a second.

Prints: the seconds from the last submit until every run has reached its target or ended, the
board's redraw time (median, p95, max), the rows written (runs and records), the records lost
(the records each run received from its worker but the store lacks: must be 0), how many runs
reached the target, and the database's size per run (SQLite). Exit status 1 if a record was lost
or a run did not end within --timeout. Every loop is bounded.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from ppo_core import PRESETS  # noqa: E402
from runs.manager import RunScheduler, TrainingRun  # noqa: E402
from runs.store import RunStore, records_table, runs_table  # noqa: E402
from ui.board import CurveReader, board_data, curves_chart, sweep_chart  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (nan without values)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class ClassRunStore(RunStore):
    """The server's store, but every run the scheduler creates is filed in the class and the
    assignment of its owner (``filed``: token -> (class id, assignment id)), as the training page
    files a class member's runs. The scheduler itself does not know about classes."""

    filed: dict[str, tuple[str, str]] = {}

    def create_run(self, token, preset, config, seed, **kw):
        if kw.get("class_id") is None and token in self.filed:
            kw["class_id"], kw["assignment_id"] = self.filed[token]
        return super().create_run(token, preset, config, seed, **kw)


def epsilons(n: int) -> list[float]:
    """n distinct ε from 0.05 up in steps of 0.01 (30 students: 0.05 … 0.34)."""
    return [round(0.05 + 0.01 * i, 2) for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=30, help="students in the class, one run each")
    ap.add_argument("--database", default=None, help="a database URL (default: a fresh SQLite file in a temporary folder)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every run to end")
    ap.add_argument("--redraw-every", type=float, default=1.0, help="seconds between board redraws (the page's timer)")
    ap.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="local processes (default) or Ray actors (RAY_ADDRESS, else a local Ray on every core)")
    ap.add_argument("--reference", action="store_true",
                    help="afterwards, train the same configs headless one after another in this process: the "
                         "compute the class needed, and so the best time the cores allow")
    args = ap.parse_args()
    if args.students < 1:
        ap.error(f"--students: must be at least 1 (got {args.students})")
    folder = Path(tempfile.mkdtemp(prefix="ppo-class-bench-"))
    url = args.database or f"sqlite:///{folder / 'ppo.sqlite3'}"
    store = ClassRunStore(url)
    new_class = store.create_class("Benchmark class")
    eps = epsilons(args.students)
    assignment = store.create_assignment(new_class.class_id, "cartpole", {"clip_coef": eps})
    tokens = []
    for i in range(args.students):
        student = store.join_class(new_class.join_code, f"Student {i + 1:02d}")
        ClassRunStore.filed[student.token] = (new_class.class_id, assignment)
        tokens.append(student.token)
    print(f"class benchmark: {args.students} students, cartpole with ε {eps[0]:g} … {eps[-1]:g}, stop at target; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before start; store {store.url}", flush=True)

    scheduler = RunScheduler(store=store, stop_on_disconnect=False, executor=args.executor)
    reader = CurveReader()
    redraws: list[float] = []
    runs: list[TrainingRun] = []
    try:
        scheduler.warm_up()
        t_first = time.perf_counter()
        for token, e in zip(tokens, eps):
            config = PRESETS["cartpole"].replace(clip_coef=e, stop_at_target=True).to_dict()
            runs.append(scheduler.submit(TrainingRun(config=config, label=f"ε {e:g}", owner=token, preset="cartpole")))
        submitted = {r.id: time.perf_counter() for r in runs}
        first_record: dict[str, float] = {}
        t_last = time.perf_counter()
        print(f"{len(runs)} runs submitted in {t_last - t_first:.2f} s", flush=True)

        deadline = t_last + args.timeout
        t_done = None
        next_redraw = time.perf_counter()
        while time.perf_counter() < deadline:
            for run in runs:  # each student's page polls its run once a second
                run.poll()
                if run.records and run.id not in first_record:
                    first_record[run.id] = time.perf_counter()
            if time.perf_counter() >= next_redraw:
                t0 = time.perf_counter()
                board = board_data(store, new_class.class_id, reader=reader)
                curves_chart(board)
                sweep_chart(board)
                redraws.append(time.perf_counter() - t0)
                next_redraw = t0 + args.redraw_every
            if not any(r.active for r in runs):
                t_done = time.perf_counter()
                break
            time.sleep(0.1)
        # The board once more at the end: every run in its final state.
        t0 = time.perf_counter()
        board = board_data(store, new_class.class_id, reader=reader)
        curves_chart(board)
        sweep_chart(board)
        final_redraw = time.perf_counter() - t0
    finally:
        scheduler.shutdown()

    for run in runs:  # the last records and events, if the loop timed out
        run.poll()
    lost = differing = 0
    for run in runs:
        stored = store.records(run.id)
        lost += max(len(run.records) - len(stored), 0)
        differing += [r.get("global_step") for r in stored] != [r.get("global_step") for r in run.records]
    with store.engine.connect() as conn:
        record_rows = conn.scalar(sa.select(sa.func.count()).select_from(records_table).where(records_table.c.run_id.in_([r.id for r in runs])))
        run_rows = conn.scalar(sa.select(sa.func.count()).select_from(runs_table).where(runs_table.c.class_id == new_class.class_id))
    states = {}
    for run in runs:
        states[run.state] = states.get(run.state, 0) + 1
    reached = sum(r.reached_target for r in runs)

    if t_done is None:
        print(f"NOT every run ended within {args.timeout:.0f} s of the last submit: {states}")
    else:
        print(f"every run reached its target or ended {t_done - t_last:.1f} s after the last submit "
              f"({t_done - t_first:.1f} s after the first): {states}, {reached} of {len(runs)} reached the target")
    print(f"board redraw (data from the store + both charts), every {args.redraw_every:g} s while they trained: "
          f"median {statistics.median(redraws):.3f} s, p95 {percentile(redraws, 0.95):.3f} s, max {max(redraws):.3f} s "
          f"over {len(redraws)} redraws (the first, which builds the chart templates and reads from scratch: "
          f"{redraws[0]:.3f} s); at the end, {final_redraw:.3f} s for {len(board.curves)} curve points")
    print(f"rows written: {run_rows} runs, {record_rows} records; records lost: {lost}; runs whose stored records differ: {differing}")
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        print(f"database: {size / 1e6:.1f} MB for {run_rows} runs and {record_rows} records: "
              f"{size / max(run_rows, 1) / 1e3:.0f} kB per run, {size / max(record_rows, 1) / 1e3:.1f} kB per record")
    store.close()
    steps = [r.records[-1]["global_step"] for r in runs if r.records]
    if steps:
        print(f"steps per run: median {statistics.median(steps):,.0f}, max {max(steps):,}; "
              f"updates per run: median {statistics.median(len(r.records) for r in runs):.0f}")
    # Start to first record: for the first runs (a core free at once) this is the executor's
    # overhead per run; for the later ones it includes their wait in the queue.
    waits = sorted(first_record[r.id] - submitted[r.id] for r in runs if r.id in first_record)
    if waits:
        print(f"submit to first record ({args.executor}): first {min(len(waits), 2)} runs {', '.join(f'{w:.2f}' for w in waits[:2])} s "
              f"(a core free at once: the overhead per run); median over all {statistics.median(waits):.1f} s")
    if args.reference:
        import torch

        from ppo_core import PPOTrainer

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        for e in eps:
            trainer = PPOTrainer(PRESETS["cartpole"].replace(clip_coef=e, stop_at_target=True))
            while not trainer.done:
                trainer.train_one_update()
            trainer.close()
        total = time.perf_counter() - t0
        cores = os.cpu_count() or 1
        best = total / cores
        print(f"reference: the same {len(eps)} runs headless, one after another: {total:.1f} s; on {cores} cores at best "
              f"{best:.1f} s; the class took {(t_done or float('nan')) - t_last:.1f} s = {((t_done or float('nan')) - t_last) / best:.2f}× that")
    ok = lost == 0 and differing == 0 and t_done is not None and not any(math.isnan(x) for x in redraws)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
