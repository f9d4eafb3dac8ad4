"""The pace of a run (runs.manager.TrainingRun.set_pace): the worker waits between updates so a
class can follow them, and nothing the run computes changes.

Each scheduler here is private to its test and shut down at its end, so no worker outlives it.
"""

from __future__ import annotations

import statistics
import time

import pytest

from ppo_core import PRESETS
from test_runner import no_server_scheduler  # noqa: F401 - autouse: the server's scheduler is shut down first
from runs.manager import FINISHED, MAX_PACE_S, PAUSED, RunScheduler, StoredRun, TrainingRun

START_TIMEOUT_S = 180  # a spawned worker imports torch: slow on a busy machine
UPDATES = 6
PACE_S = 0.5
# A small cartpole run of UPDATES updates, on the preset's seed: each update takes milliseconds.
SMALL_RUN = PRESETS["cartpole"].replace(num_envs=2, num_steps=64, num_minibatches=2, total_steps=UPDATES * 128).to_dict()
WALL_CLOCK_KEYS = {"wall_s", "sps"}  # the only keys of a record that may differ between two runs of one seed


@pytest.fixture
def scheduler():
    s = RunScheduler(max_running=2, watchdog_interval=0.2, respare_after=3600.0)
    yield s
    s.shutdown()


def arrivals(runs: list[TrainingRun], timeout: float = START_TIMEOUT_S) -> dict[str, list[float]]:
    """Poll every 20 ms until every run has finished; return, for each run, when each of its
    records arrived (time.monotonic())."""
    seen = {r.id: [] for r in runs}
    deadline = time.monotonic() + timeout
    while not all(r.state == FINISHED for r in runs):
        assert time.monotonic() < deadline, f"runs still {[r.state for r in runs]} after {timeout:.0f} s ({[r.message for r in runs]})"
        for r in runs:
            now = time.monotonic()
            seen[r.id] += [now] * len(r.poll())
        time.sleep(0.02)
    return seen


def without_wall_clock(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS} for r in records]


def test_a_paced_run_waits_between_updates_and_computes_the_same_records(scheduler):
    full = TrainingRun(SMALL_RUN, label="full speed")
    paced = TrainingRun(SMALL_RUN, label="paced")
    paced.set_pace(PACE_S)  # before it starts: sent with its config
    scheduler.submit(full)
    scheduler.submit(paced)
    seen = arrivals([full, paced])
    assert len(full.records) == len(paced.records) == UPDATES
    # same seed, same curve: every number but the clock's (the batch samples for the clip plot too)
    assert without_wall_clock(paced.records) == without_wall_clock(full.records)
    assert {k for r in paced.records for k in r} >= WALL_CLOCK_KEYS | {"approx_kl", "episode_return_mean", "batch_ratio"}
    # The worker waits PACE_S after each update before the next: the records arrive at least that
    # far apart (the median, so one record delayed on its way cannot decide it; a lower bound only,
    # which a busy machine cannot break).
    gaps = [b - a for a, b in zip(seen[paced.id], seen[paced.id][1:])]
    assert statistics.median(gaps) >= PACE_S, gaps


def test_the_pace_changes_while_a_run_is_paused_and_steps_still_go_at_once(scheduler):
    run = scheduler.submit(TrainingRun({**SMALL_RUN, "total_steps": 40 * 128}, start_paused=True))
    deadline = time.monotonic() + START_TIMEOUT_S
    while run.state != PAUSED:
        assert time.monotonic() < deadline, run.state
        run.poll()
        time.sleep(0.05)
    run.set_pace(MAX_PACE_S)  # a step is the teacher's: it does not wait for the pace
    run.send("step")
    while not run.records:
        assert time.monotonic() < deadline, "the step's update never came"
        run.poll()
        time.sleep(0.05)
    assert run.state == PAUSED and len(run.records) == 1
    run.set_pace(0.0)
    run.send("resume")
    while len(run.records) < 3:  # at full speed again: no 10 s wait before the next updates
        assert time.monotonic() < deadline, "the run did not go on at full speed"
        run.poll()
        time.sleep(0.05)
    run.stop()


@pytest.mark.parametrize("bad", [-0.5, MAX_PACE_S + 1, "1", True, float("nan")])
def test_a_pace_outside_its_range_names_the_range(bad):
    with pytest.raises(ValueError, match=f"pace: must be from 0 to {MAX_PACE_S:g} seconds"):
        TrainingRun(SMALL_RUN).set_pace(bad)


def test_a_stored_run_has_no_pace_to_change():
    assert StoredRun.pace_s == 0.0 and StoredRun.set_pace(object.__new__(StoredRun), 1.0) is None
