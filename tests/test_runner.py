"""ui.runner's scheduler on its own: when runs are given up, and when a new spare worker starts.

Each scheduler here is private to its test (not the server's shared one) and is shut down at
the end, so no worker outlives the test.
"""

from __future__ import annotations

import time

import pytest

from ppo_core import PRESETS
from ui.runner import PAUSED, STOPPED, RunScheduler, TrainingRun

START_TIMEOUT_S = 120  # a spawned worker imports torch: slow on a busy machine
# paused before its first update: the worker holds the run without computing
IDLE_RUN = PRESETS["cartpole"].replace(total_steps=1_000_000).to_dict()


@pytest.fixture
def scheduler():
    s = RunScheduler(max_running=2, abandon_after=2.0, watchdog_interval=0.2, disconnect_grace=1.0, respare_after=3600.0)
    yield s
    s.shutdown()


def started(run: TrainingRun) -> TrainingRun:
    deadline = time.monotonic() + START_TIMEOUT_S
    while run.state != PAUSED:
        assert time.monotonic() < deadline, f"run still {run.state} after {START_TIMEOUT_S} s"
        run.poll()
        time.sleep(0.1)
    return run


def wait_for(condition, timeout: float) -> float:
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - t0


def test_a_run_of_a_connected_session_survives_without_polls(scheduler):
    """A background tab polls rarely (browsers slow its timers): while the app says its session
    is connected, the run goes on long past the heartbeat's limit."""
    scheduler.session_alive = lambda sid: {"tab-1": True}.get(sid)
    run = started(scheduler.submit(TrainingRun(IDLE_RUN, start_paused=True, session_id="tab-1")))
    time.sleep(scheduler.abandon_after * 2.5)  # no poll at all
    assert run.state == PAUSED and run.pid is not None


def test_a_run_stops_once_its_session_has_been_gone_for_the_grace_period(scheduler):
    connected = {"tab-1": True}
    scheduler.session_alive = lambda sid: connected.get(sid)
    run = started(scheduler.submit(TrainingRun(IDLE_RUN, start_paused=True, session_id="tab-1")))
    pid = run.pid
    connected["tab-1"] = False  # tab closed (or the page reloaded: a new session)
    stopped_after = wait_for(lambda: run.state == STOPPED, 10.0)
    assert scheduler.disconnect_grace <= stopped_after <= scheduler.disconnect_grace + 5.0, stopped_after
    assert "closed" in run.message
    assert run.pid is None and pid is not None


def test_a_short_disconnection_within_the_grace_period_keeps_the_run(scheduler):
    connected = {"tab-1": True}
    scheduler.session_alive = lambda sid: connected.get(sid)
    run = started(scheduler.submit(TrainingRun(IDLE_RUN, start_paused=True, session_id="tab-1")))
    connected["tab-1"] = False
    time.sleep(scheduler.disconnect_grace * 0.4)
    connected["tab-1"] = True  # the websocket reconnected to the same session
    time.sleep(scheduler.disconnect_grace * 2)
    assert run.state == PAUSED


def test_without_session_information_the_heartbeat_decides(scheduler):
    scheduler.session_alive = lambda sid: None  # e.g. outside a Streamlit server
    run = started(scheduler.submit(TrainingRun(IDLE_RUN, start_paused=True, session_id="tab-1")))
    kept = wait_for(lambda: run.state == STOPPED, scheduler.abandon_after * 0.5)
    assert kept == float("inf"), "stopped before the heartbeat limit"
    run.poll()  # a heartbeat resets the clock
    assert wait_for(lambda: run.state == STOPPED, 10.0) >= scheduler.abandon_after * 0.9


def test_the_replacement_spare_waits_after_a_launch():
    s = RunScheduler(max_running=2, watchdog_interval=0.2, respare_after=2.0)
    try:
        s.warm_up()
        assert s._spare is not None, "the first page view starts a spare"
        run = started(s.submit(TrainingRun(IDLE_RUN, start_paused=True)))
        assert s._spare is None, "the spare was given to the run"
        s.tick()
        assert s._spare is None, "a new spare would import torch beside the new run's first updates"
        time.sleep(2.1)
        s.tick()
        assert s._spare is not None
        run.stop()
    finally:
        s.shutdown()
