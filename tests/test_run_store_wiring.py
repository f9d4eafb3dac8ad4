"""The run manager writes every run to the run store as it trains (runs.manager + runs.store).

Each test has its own scheduler and its own store (a SQLite file under tmp_path; the first test
also on a throwaway PostgreSQL server, tests/pg_support.py), shut down at the end. No test here
polls a run the way a page would unless it says so: the runs must reach the store on their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pg_support import postgres_server, store_url  # noqa: F401 - fixtures, used by name
from ppo_core import PRESETS
from runs.manager import FAILED, FINISHED, STOPPED, RunScheduler, StoredRun, TooManyRuns, TrainingRun, open_run
from runs.store import RunStore
from ui.report import steps_to_target

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120  # a spawned worker imports torch: slow on a busy machine
SMALL = dict(num_envs=1, num_steps=16, num_minibatches=2)
ENDLESS = PRESETS["cartpole"].replace(**SMALL, total_steps=1_000_000).to_dict()
SHORT = PRESETS["cartpole"].replace(**SMALL, total_steps=16 * 25).to_dict()  # 25 updates
SIGKILL_MESSAGE = "the training process ended unexpectedly (signal 9, SIGKILL — killed, perhaps out of memory)"


@pytest.fixture
def sqlite_store(tmp_path):
    with RunStore(f"sqlite:///{tmp_path / 'ppo.sqlite3'}") as store:
        yield store


def scheduler_on(store, **options) -> RunScheduler:
    defaults = dict(max_running=2, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0, store=store)
    return RunScheduler(**{**defaults, **options})


def wait_for(condition, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout} s"
        time.sleep(0.1)


def test_every_record_the_final_status_its_outcome_and_model_are_stored_without_a_page(store_url):
    """The preset's cartpole run, to its target or budget, never polled: the watchdog takes its
    records and its end, and the store has each record, the final status and the outcome."""
    cfg = PRESETS["cartpole"].replace(stop_at_target=True).to_dict()
    with RunStore(store_url) as store:
        s = scheduler_on(store)
        try:
            run = s.submit(TrainingRun(cfg, label="#1 cartpole seed 1 (preset)", owner="T" * 22, preset="cartpole"))
            assert store.run(run.id).status == "queued" or store.run(run.id).status == "running"
            wait_for(lambda: store.run(run.id).status == FINISHED, "the run to finish")
            row = store.run(run.id)
            stored = store.records(run.id)
            assert run.state == FINISHED and len(stored) == len(run.records) > 0
            assert stored == run.records  # every record, in order, as the worker sent it
            assert [r["update"] for r in stored] == list(range(1, len(stored) + 1))
            assert (row.token, row.preset, row.label, row.seed, row.config) == ("T" * 22, "cartpole", run.label, cfg["seed"], cfg)
            assert row.last_step == stored[-1]["global_step"]
            reached_at = steps_to_target(stored, cfg["target_return"])
            assert (row.reached_target, row.steps_to_target) == (reached_at is not None, reached_at)
            assert row.reached_target == run.reached_target
            if reached_at is not None:
                assert row.seconds_to_target == next(r["wall_s"] for r in stored if r["global_step"] == reached_at)
            assert row.final_return == stored[-1]["episode_return_mean"]
            assert row.has_model and store.model(run.id) == run.model_state
            assert row.executor and row.executor.startswith("local pid ")
        finally:
            s.shutdown()


def test_a_worker_killed_with_sigkill_leaves_the_run_failed_with_its_records(sqlite_store):
    s = scheduler_on(sqlite_store)
    try:
        run = s.submit(TrainingRun(ENDLESS, owner="K" * 22, preset="cartpole"))
        wait_for(lambda: len(run.records) >= 3, "three updates")  # (the watchdog takes them)
        os.kill(run.pid, signal.SIGKILL)
        wait_for(lambda: sqlite_store.run(run.id).status == FAILED, "the run to be stored as failed", 30)
        row = sqlite_store.run(run.id)
        assert row.message == SIGKILL_MESSAGE and run.message == SIGKILL_MESSAGE
        stored = sqlite_store.records(run.id)
        assert stored == run.records and len(stored) >= 3
        assert row.last_step == stored[-1]["global_step"]
        assert not row.has_model  # it died: no final model
    finally:
        s.shutdown()


def test_a_restarted_server_marks_the_run_its_predecessor_trained_interrupted_with_its_records(tmp_path):
    """The first server is a process of its own, killed (SIGKILL) while its run trains; the
    scheduler of the next one finds the run "interrupted at step N" with every stored record."""
    url = f"sqlite:///{tmp_path / 'ppo.sqlite3'}"
    script = tmp_path / "first_server.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from runs.manager import RunScheduler, TrainingRun
        from runs.store import RunStore

        if __name__ == "__main__":
            store = RunStore({url!r})
            s = RunScheduler(max_running=1, watchdog_interval=0.2, respare_after=3600.0, store=store)
            run = s.submit(TrainingRun({ENDLESS!r}, owner="R" * 22, preset="cartpole"))
            while len(store.records(run.id)) < 5:
                time.sleep(0.05)
            print(run.id, flush=True)
            time.sleep(600)  # killed before this ends
    """))
    first = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        run_id = first.stdout.readline().strip()
        assert run_id, "the first server printed no run id"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    with RunStore(url) as store:
        assert store.run(run_id).status == "running"  # as the dead server left it
        s = scheduler_on(store)
        try:
            row = store.run(run_id)
            stored = store.records(run_id)
            assert len(stored) >= 5 and row.status == "interrupted"
            assert row.message == f"interrupted at step {stored[-1]['global_step']}"
            again = open_run(run_id, store, s)  # as the page opens it
            assert isinstance(again, StoredRun) and again.state == "interrupted" and again.records == stored
            assert not again.active and again.model_state is None
        finally:
            s.shutdown()


def test_with_stop_on_disconnect_off_a_gone_sessions_run_trains_to_its_end_and_a_paused_one_hits_the_pause_limit(sqlite_store):
    s = scheduler_on(sqlite_store, stop_on_disconnect=False, disconnect_grace=0.5, pause_limit=3.0)
    s.session_alive = lambda sid: False  # the tab that started them is closed
    try:
        trains_on = s.submit(TrainingRun(SHORT, session_id="gone", owner="G" * 22, preset="cartpole"))
        paused = s.submit(TrainingRun(ENDLESS, session_id="gone", owner="G" * 22, preset="cartpole", start_paused=True))
        wait_for(lambda: sqlite_store.run(trains_on.id).status == FINISHED, "the gone session's run to finish")
        assert [r["update"] for r in sqlite_store.records(trains_on.id)] == list(range(1, 26))
        wait_for(lambda: sqlite_store.run(paused.id).status == STOPPED, "the pause limit", 60)
        assert sqlite_store.run(paused.id).message.startswith("stopped after 3 s paused")
        assert paused.pid is None
    finally:
        s.shutdown()


def test_with_stop_on_disconnect_on_a_gone_sessions_run_is_stopped_and_stored_so(sqlite_store):
    s = scheduler_on(sqlite_store, stop_on_disconnect=True, disconnect_grace=0.5)
    s.session_alive = lambda sid: False
    try:
        run = s.submit(TrainingRun(ENDLESS, session_id="gone", owner="G" * 22, preset="cartpole"))
        wait_for(lambda: sqlite_store.run(run.id).status == STOPPED, "the run to be stopped")
        assert sqlite_store.run(run.id).message.startswith("stopped: its page was closed")  # (a busy machine may add a late answer)
    finally:
        s.shutdown()


def test_a_student_may_have_at_most_the_cap_of_active_runs(sqlite_store):
    s = scheduler_on(sqlite_store, max_runs_per_student=2)
    me, other = "M" * 22, "O" * 22
    try:
        first = s.submit(TrainingRun(ENDLESS, owner=me, start_paused=True))
        s.submit(TrainingRun(ENDLESS, owner=me, start_paused=True))
        assert s.runs_left(me) == 0 and s.runs_left(other) == 2
        with pytest.raises(TooManyRuns, match="at most 2 runs queued, running or paused at once; you have 2"):
            s.submit(TrainingRun(ENDLESS, owner=me, start_paused=True))
        assert len(sqlite_store.runs_of(token=me)) == 2  # the refused run left no row
        s.submit(TrainingRun(ENDLESS, owner=other, start_paused=True))  # another student is not counted
        first.stop()
        assert first.state == STOPPED and s.runs_left(me) == 1
        s.submit(TrainingRun(ENDLESS, owner=me, start_paused=True))
    finally:
        s.shutdown()


def test_a_run_without_a_store_still_trains(tmp_path):
    """store=None: the scheduler as before (the benchmark's headless side, the older tests)."""
    s = scheduler_on(None)
    try:
        run = s.submit(TrainingRun(SHORT))
        wait_for(lambda: not run.active, "the run to end")
        assert run.state == FINISHED and len(run.records) == 25
        assert not list(tmp_path.iterdir())
    finally:
        s.shutdown()
