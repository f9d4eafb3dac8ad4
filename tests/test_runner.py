"""runs.manager's scheduler on its own: when runs are given up, and when a new spare worker starts.

Each scheduler here is private to its test (not the server's shared one) and is shut down at
the end, so no worker outlives the test.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import sys
import threading
import time
import traceback
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

from ppo_core import PRESETS
from runs.manager import PAUSED, RUNNING, STOPPED, RunScheduler, TrainingRun, _WorkerProcess

START_TIMEOUT_S = 120  # a spawned worker imports torch: slow on a busy machine
# paused before its first update: the worker holds the run without computing
IDLE_RUN = PRESETS["cartpole"].replace(total_steps=1_000_000).to_dict()


@pytest.fixture(autouse=True)
def no_server_scheduler():
    """These tests count this process's worker processes. The app's server-wide scheduler, made
    by the AppTest page runs earlier in the session, keeps a spare worker while a session is
    connected, and AppTest sessions never disconnect: it is shut down first."""
    from runs import manager

    with manager._scheduler_lock:
        server, manager._scheduler = manager._scheduler, None
    if server is not None:
        server.shutdown()


@pytest.fixture
def scheduler():
    # These tests are about stopping on disconnect: an option now (PPO_STOP_ON_DISCONNECT), on here.
    s = RunScheduler(max_running=2, abandon_after=2.0, watchdog_interval=0.2, disconnect_grace=1.0, respare_after=3600.0,
                     stop_on_disconnect=True)
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


# -- workers that die ---------------------------------------------------------------------------
# A run that trains without end on a tiny batch: an update takes milliseconds, so records flow.
TINY_RUN = PRESETS["cartpole"].replace(num_envs=1, num_steps=16, num_minibatches=2, total_steps=1_000_000).to_dict()
FINAL_WITHIN_S = 2.0  # from a worker's death to a final state on the page (the limit)
SIGKILL_MESSAGE = "the training process ended unexpectedly (signal 9, SIGKILL — killed, perhaps out of memory)"


def within(seconds: float, fn, *args):
    """fn(*args) on a thread of its own; fail, showing where it is stuck, if it has not returned
    within ``seconds`` (a call that waits on a dead worker's pipe would never return)."""
    out = {}

    def call():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again on the test's thread
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True, name=f"within-{getattr(fn, '__name__', 'call')}")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        stack = "".join(traceback.format_stack(sys._current_frames()[thread.ident]))
        pytest.fail(f"{getattr(fn, '__qualname__', fn)} still running after {seconds:g} s, stuck at:\n{stack}")
    if "error" in out:
        raise out["error"]
    return out.get("value")


def child_processes() -> dict[int, str]:
    """This process's children: pid -> 'worker' (spawned by multiprocessing), 'zombie' (ended,
    never reaped) or 'other' (read from /proc, Linux)."""
    pids = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except FileNotFoundError:
            pass
    out = {}
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue  # reaped meanwhile
        out[pid] = "zombie" if state in ("Z", "X") else "worker" if b"multiprocessing.spawn" in cmd else "other"
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ppo-worker-") and t.name.endswith("-records")]


def poll_until(runs, condition, what: str, timeout: float = START_TIMEOUT_S) -> float:
    """Poll every run (each poll guarded against hanging) until ``condition()``; seconds taken."""
    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < timeout, f"waited {timeout:g} s for {what}: {[(r.state, len(r.records), r.message) for r in runs]}"
        for r in runs:
            within(10, r.poll)
        time.sleep(0.02)
    return time.monotonic() - t0


def kill_and_time(run: TrainingRun, stopping=None) -> float:
    """SIGKILL the run's worker; seconds until the run's state is final (polled, never hanging)."""
    pid = run.pid
    if pid is None:  # it ended first (a stop that was answered at once): nothing to kill
        return 0.0
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    while run.active:
        if stopping is not None and not stopping.is_alive():
            stopping = None
        within(10, run.poll)
        assert time.monotonic() - killed < 30, f"run still {run.state} 30 s after its worker was killed"
        time.sleep(0.02)
    if stopping is not None:
        stopping.join(30)
        assert not stopping.is_alive(), "stop() did not return after the worker died"
    return time.monotonic() - killed


def half_message_worker(records, commands) -> None:
    """A stand-in worker: it starts like the real one and sends three records, then only the
    first half of a 300 kB model message, and hangs there until it is killed."""
    records.send({"event": "ready"})
    _, config, _ = commands.recv()
    records.send({"event": "started"})
    for i in range(3):
        records.send({"event": "update", "record": {"global_step": 16 * (i + 1)}})
    data = bytes(ForkingPickler.dumps({"event": "model", "state_dict": b"\0" * 300_000}))
    os.write(records.fileno(), struct.pack("!i", len(data)) + data[: len(data) // 2])  # the wire format of Connection.send
    Path(config["marker"]).touch()
    time.sleep(600)


@pytest.fixture
def patient():
    """A scheduler that keeps its runs without polls (no heartbeat limit to race against)."""
    s = RunScheduler(max_running=2, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0)
    yield s
    s.shutdown()


def test_a_worker_killed_halfway_through_a_message_fails_by_its_signal_keeps_its_records_and_the_next_run_trains(patient, tmp_path, capsys):
    marker = tmp_path / "half-written"
    patient._spare = _WorkerProcess(target=half_message_worker)
    run = patient.submit(TrainingRun({"marker": str(marker)}, label="cut short"))
    poll_until([run], lambda: marker.exists() and len(run.records) == 3, "the stand-in to write half a message")
    pid = run.pid
    took = kill_and_time(run)
    with capsys.disabled():
        print(f"\n[runner] killed halfway through a message: final state {took:.3f} s after SIGKILL")
    assert took <= FINAL_WITHIN_S
    assert (run.state, run.message) == ("failed", SIGKILL_MESSAGE)
    assert [r["global_step"] for r in run.records] == [16, 32, 48]  # what arrived before is kept
    assert run.pid is None and pid not in child_processes()  # reaped, not even a zombie
    # the thread that read the dead worker's pipe has ended: nothing waits on it
    for t in reader_threads():
        if t.name == f"ppo-worker-{pid}-records":
            t.join(5.0)
            assert not t.is_alive(), "the reader of the dead worker's pipe is still waiting"
    # the student starts again, on a fresh worker
    again = patient.submit(TrainingRun(TINY_RUN, label="again"))
    poll_until([again], lambda: len(again.records) >= 3 or not again.active, "the new run to train")
    assert again.state == RUNNING and again.pid not in (None, pid)


def test_a_spare_killed_while_idle_is_not_handed_to_the_next_run():
    s = RunScheduler(max_running=2, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0)
    try:
        s.warm_up()
        spare = s._spare
        assert spare is not None and spare.ready.wait(START_TIMEOUT_S), "the spare never finished importing"
        os.kill(spare.process.pid, signal.SIGKILL)
        assert spare.gone.wait(10)
        run = s.submit(TrainingRun(TINY_RUN))
        assert run.pid is not None and run.pid != spare.process.pid
        poll_until([run], lambda: len(run.records) >= 3 or not run.active, "the run to train")
        assert run.state == RUNNING, run.message
        assert spare.process.pid not in child_processes()
    finally:
        s.shutdown()


def test_paused_runs_leave_their_cores_to_a_queued_run_and_a_resume_waits_its_turn(patient):
    a, b = (patient.submit(TrainingRun(TINY_RUN, label=x)) for x in "ab")
    poll_until([a, b], lambda: len(a.records) >= 2 and len(b.records) >= 2, "two runs to train")
    a.send("pause")
    b.send("pause")
    poll_until([a, b], lambda: not patient.training(), "both workers to say they are idle")
    c = patient.submit(TrainingRun(TINY_RUN, label="c"))
    assert c.state == RUNNING, "two paused runs kept a queued one waiting"
    poll_until([a, b, c], lambda: len(c.records) >= 2, "the third run to train")

    a.send("resume")  # one core is free (only c trains): a goes on at once
    assert a.state == RUNNING and a.waiting_for is None
    held = len(a.records)
    poll_until([a, b, c], lambda: len(a.records) > held, "a to train again")
    b.send("resume")  # every core is busy: b waits its turn
    assert (b.state, b.waiting_for, patient.queue_position(b)) == (PAUSED, "resume", 1)
    d = patient.submit(TrainingRun(TINY_RUN, label="d"))  # behind b in the queue
    assert (d.state, patient.queue_position(d)) == ("queued", 2)
    b_steps, b_cpu = len(b.records), cpu_seconds(b.pid)
    for _ in range(40):  # 2 s at least: b neither trains nor computes, never three at once
        for r in (a, b, c, d):
            within(10, r.poll)
        assert len(patient.training()) <= patient.max_running
        time.sleep(0.05)
    assert len(b.records) == b_steps and b.waiting_for == "resume"
    assert cpu_seconds(b.pid) - b_cpu < 0.2, "the waiting run's process computed"

    within(10, c.stop)  # a core frees: the first in the queue (b) resumes, d still waits
    poll_until([a, b, d], lambda: b.state == RUNNING, "b to get the freed core")
    assert (d.state, patient.queue_position(d)) == ("queued", 1)
    poll_until([a, b, d], lambda: len(b.records) > b_steps, "b to train again")
    assert len(patient.training()) <= patient.max_running


KILL_POINTS = (
    "before the first record",
    "mid-record",
    "while sending its model",
    "while paused",
    "while stopping",
)


def test_workers_killed_at_random_points_never_hang_a_poll_nor_leave_a_process(capsys):
    """Fault injection: a loop of runs whose worker is killed at a random point of its life.

    Each call into the run manager is guarded (``within``): none may hang. Every run ends in a
    final state within 2 s of the kill, keeps the records it received, and leaves no process; a
    warm spare killed while idle is replaced, never handed on. Two workers import torch ahead
    (the slow part, ~4 s of CPU each) while the previous runs are tested."""
    seed = int(os.environ.get("FAULT_SEED", "20250609"))
    rng = random.Random(seed)
    points = [KILL_POINTS[i % len(KILL_POINTS)] for i in range(20)]
    rng.shuffle(points)
    spare_kills = set(rng.sample(range(len(points)), 2))  # before these runs, the spare is killed
    s = RunScheduler(max_running=2, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0)
    ahead = [_WorkerProcess(), _WorkerProcess()]
    took: dict[str, list[float]] = {p: [] for p in KILL_POINTS}
    outcomes: dict[str, int] = {}
    t_loop = time.monotonic()
    try:
        for i, point in enumerate(points):
            with s._lock:  # hand the scheduler the next warm worker as its spare
                s._spare = ahead.pop(0)
                ahead.append(_WorkerProcess())
            if i in spare_kills:
                spare = s._spare
                assert spare.ready.wait(START_TIMEOUT_S)
                os.kill(spare.process.pid, signal.SIGKILL)
                assert spare.gone.wait(10)
            run = within(30, s.submit, TrainingRun(TINY_RUN, label=f"#{i} {point}"))
            pid = run.pid
            assert pid is not None and (i not in spare_kills or pid != spare.process.pid), "a dead spare was handed on"
            stopping = None
            if point != "before the first record":
                poll_until([run], lambda: len(run.records) >= 1 or not run.active, "the first record")
                assert run.state == RUNNING, (point, run.state, run.message)
            if point == "mid-record":
                time.sleep(rng.uniform(0.0, 0.2))
            elif point == "while sending its model":
                run.send("snapshot")
                time.sleep(rng.uniform(0.0, 0.02))
            elif point == "while paused":
                run.send("pause")
                poll_until([run], lambda: not run._holds_core(), "the worker to say it is idle")
            elif point == "while stopping":
                stopping = threading.Thread(target=run.stop, daemon=True, name="test-stop")
                stopping.start()
                time.sleep(rng.uniform(0.0, 0.03))
            within(10, run.poll)
            received = [r["global_step"] for r in run.records]
            seconds = kill_and_time(run, stopping)
            took[point].append(seconds)
            assert seconds <= FINAL_WITHIN_S, (point, seconds)
            if run.state == "failed":
                assert run.message == SIGKILL_MESSAGE, (point, run.message)
            else:  # the worker had sent its last record before the kill
                assert point == "while stopping" and run.state == STOPPED, (point, run.state, run.message)
            steps = [r["global_step"] for r in run.records]
            assert steps[: len(received)] == received and steps == [16 * (k + 1) for k in range(len(steps))]
            # The run let its worker go: ended, or back in the pool for the next run (not training).
            assert run.pid is None and (pid not in child_processes() or pid in s.idle_worker_pids()), f"worker {pid} left behind"
            outcomes[run.state] = outcomes.get(run.state, 0) + 1
        loop_s = time.monotonic() - t_loop
        for w in ahead:
            w.discard()
    finally:
        within(30, s.shutdown)
    left = {pid: kind for pid, kind in child_processes().items() if kind != "other"}
    assert not left, f"processes left after the loop: {left}"
    deadline = time.monotonic() + 10
    while reader_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not reader_threads(), f"reader threads left: {reader_threads()}"
    with capsys.disabled():
        worst = {p: f"{max(v):.3f}" for p, v in took.items() if v}
        print(f"\n[runner] fault loop (seed {seed}): {len(points)} runs killed, {len(spare_kills)} idle spares killed, "
              f"{loop_s:.0f} s; outcomes {outcomes}; slowest kill -> final state per point (s): {worst}")


def test_a_run_paused_past_the_limit_is_stopped_saying_why_and_keeps_its_model():
    s = RunScheduler(max_running=2, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0, pause_limit=3.0)
    try:
        run = s.submit(TrainingRun(TINY_RUN))
        poll_until([run], lambda: len(run.records) >= 2, "the run to train")
        run.send("pause")
        poll_until([run], lambda: not s.training(), "the worker to say it is idle")
        within(10, run.poll)  # the update it sent before it said so
        pid, kept = run.pid, len(run.records)
        poll_until([run], lambda: not run.active, "the pause limit", timeout=60)
        assert run.state == STOPPED
        assert run.message == "stopped after 3 s paused: a paused run keeps a process on the server (its records and model are kept)"
        assert len(run.records) == kept and run.model_state is not None
        # The run let its process go: ended, or waiting (idle, at no CPU) to train the next run.
        assert run.pid is None and (pid not in child_processes() or pid in {w.process.pid for w in s._recycled})
    finally:
        s.shutdown()


def test_a_queued_run_that_needs_a_process_stops_the_run_paused_longest():
    """max_paused bounds the processes: one core, one paused run may keep its process; a run
    queued behind two paused ones stops the one paused first and starts."""
    s = RunScheduler(max_running=1, max_paused=1, abandon_after=3600.0, watchdog_interval=0.2, respare_after=3600.0)
    try:
        first = s.submit(TrainingRun(TINY_RUN, label="first"))
        poll_until([first], lambda: len(first.records) >= 2, "the first run to train")
        first.send("pause")
        second = s.submit(TrainingRun(TINY_RUN, label="second"))  # the paused run left the core
        poll_until([first, second], lambda: second.state == RUNNING and len(second.records) >= 2, "the second run to train")
        second.send("pause")
        poll_until([first, second], lambda: not s.training(), "both workers to say they are idle")
        third = s.submit(TrainingRun(TINY_RUN, label="third"))
        assert third.state == "queued" and s.room_wanted  # two processes already: one core + one paused
        poll_until([first, second, third], lambda: len(third.records) >= 2, "the third run to train")
        assert first.state == STOPPED and first.model_state is not None
        assert first.message.startswith("stopped after ") and first.message.endswith(
            " paused, to make room for a queued run: the server keeps at most 1 paused runs (its records and model are kept)"), first.message
        assert second.state == PAUSED and second.pid is not None
    finally:
        s.shutdown()
