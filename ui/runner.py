"""Training runs beside the app server: one spawned process per run, a server-wide cap.

Streamlit reruns a page's script on every interaction, so a training loop on the script thread
would freeze the page. Each run is a process of its own (spawned, lower priority than the
server, one torch thread) that sends one record per update through a queue and obeys commands
(pause, resume, step, stop) sent through another. The page polls :meth:`TrainingRun.poll` on a
timer and redraws from the records it has.

A :class:`RunScheduler` (one per server process) starts at most ``max_running`` runs at once
and queues the rest in order. Runs stop when their session ends: a watchdog thread asks the app
(``session_alive``) whether each run's browser session is still connected and stops the runs
of a session gone for ``disconnect_grace`` seconds (tab closed, page reloaded). Where the app
cannot tell, it falls back to the heartbeat that :meth:`TrainingRun.poll` records and stops
runs not polled for ``abandon_after`` seconds. A connected tab in the background (whose timers
the browser slows down) keeps its run. A worker also exits by itself if the server goes away.

No Streamlit in this module: the tests drive it directly.
"""

from __future__ import annotations

import importlib.machinery
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# States a run passes through.
QUEUED, RUNNING, PAUSED, FINISHED, STOPPED, DIVERGED, FAILED = (
    "queued", "running", "paused", "finished", "stopped", "diverged", "failed",
)
ACTIVE = (QUEUED, RUNNING, PAUSED)
_SPAWN_LOCK = threading.Lock()
_NO_MAIN = types.ModuleType("__main__")
_NO_MAIN.__spec__ = importlib.machinery.ModuleSpec("ui.runner.__main__", None)
BATCH_POINTS = 400  # (ratio, advantage) samples sent per update for the clip plot


def _state_dict_bytes(trainer) -> bytes:
    """The checkpoint as bytes (parameters and observation statistics): tensors put on a queue
    as they are would travel as shared-memory handles that die with the worker."""
    from ui.model_io import checkpoint_bytes

    return checkpoint_bytes(trainer.agent.state_dict(), trainer.observation_stats())


def _worker(records: mp.Queue, commands: mp.Queue, parent_pid: int) -> None:
    """A worker process: import the heavy libraries, say it is ready, wait for a config, train.

    Spawned ahead of need (the scheduler keeps one spare), so a run's first record does not
    wait for a fresh interpreter to import torch. Never raises: failures become records.
    """
    try:
        os.nice(10)  # the app server, at normal priority, stays responsive
    except OSError:
        pass
    import torch

    torch.set_num_threads(1)
    from ppo_core import PRESETS, PPOConfig, PPOTrainer, TrainingDiverged
    from ppo_core.advantages import normalize_advantages

    # Pay the one-time costs while idle: the first optimiser imports torch._dynamo (3.6 s here)
    # and the first environment its module; a run then starts training at once.
    PPOTrainer(PRESETS["cartpole"].replace(num_envs=1, num_steps=4, num_minibatches=1, total_steps=4)).close()
    records.put({"event": "ready"})
    while True:  # idle until given a run, or until the server goes away
        if os.getppid() != parent_pid:
            return
        try:
            msg = commands.get(timeout=0.5)
        except queue.Empty:
            continue
        if msg == "stop":
            return
        if isinstance(msg, tuple) and msg[0] == "run":
            _, config, start_paused = msg
            break

    trainer = None
    try:
        trainer = PPOTrainer(PPOConfig.from_dict(config))
        rng = np.random.default_rng(0)
        paused, steps_allowed = start_paused, 0
        records.put({"event": "started"})
        while not trainer.done:
            if os.getppid() != parent_pid:  # the server died: nobody will read our records
                return
            try:
                cmd = commands.get(timeout=0.1) if paused and steps_allowed == 0 else commands.get_nowait()
            except queue.Empty:
                cmd = None
            if cmd == "stop":
                records.put({"event": "model", "state_dict": _state_dict_bytes(trainer)})
                records.put({"event": "stopped"})
                return
            if cmd == "snapshot":
                records.put({"event": "model", "state_dict": _state_dict_bytes(trainer)})
            elif cmd == "pause":
                paused = True
            elif cmd == "resume":
                paused, steps_allowed = False, 0
            elif cmd == "step":
                steps_allowed += 1
            if paused and steps_allowed == 0:
                continue
            record = trainer.train_one_update()
            if steps_allowed:
                steps_allowed -= 1
            batch = trainer.last_batch
            n = len(batch)
            idx = rng.choice(n, size=min(BATCH_POINTS, n), replace=False)
            record["batch_ratio"] = trainer.last_ratios[idx].astype(float).tolist()
            record["batch_advantage"] = normalize_advantages(batch.advantages).numpy()[idx].astype(float).tolist()
            records.put({"event": "update", "record": record})
        records.put({"event": "model", "state_dict": _state_dict_bytes(trainer)})
        records.put({"event": "finished", "reached_target": trainer.reached_target})
    except TrainingDiverged as exc:
        records.put({"event": "diverged", "message": str(exc)})
    except Exception as exc:  # noqa: BLE001 - reported to the page rather than lost in a log
        records.put({"event": "failed", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        if trainer is not None:
            trainer.close()


class _WorkerProcess:
    """A spawned worker with its two queues; idle until :meth:`assign` hands it a run."""

    def __init__(self):
        ctx = mp.get_context("spawn")  # a fresh interpreter: no forked server threads or sockets
        self.records, self.commands = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(target=_worker, args=(self.records, self.commands, os.getpid()), daemon=True, name="ppo-worker")
        # Streamlit runs each script as a fake __main__ module whose __file__ is app.py, and a
        # spawned child re-runs its parent's __main__ before the target: every worker would run
        # the whole app (and die if the app starts a worker). multiprocessing skips a __main__
        # whose spec name ends in ".__main__", so the child imports only this module.
        with _SPAWN_LOCK:
            saved = sys.modules.get("__main__")
            sys.modules["__main__"] = _NO_MAIN
            try:
                self.process.start()
            finally:
                sys.modules["__main__"] = saved

    def assign(self, config: dict, start_paused: bool) -> None:
        self.commands.put(("run", config, start_paused))

    def discard(self) -> None:
        self.commands.put("stop")
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


@dataclass
class TrainingRun:
    """One run: its config, its state, the records received so far."""

    config: dict
    label: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    state: str = QUEUED
    message: str = ""
    records: list[dict] = field(default_factory=list)
    reached_target: bool = False
    model_state: bytes | None = None
    model_version: int = 0
    created: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    session_id: str | None = None  # the browser session that owns the run, if the app knows it
    group: str | None = None  # the runs of one comparison share it (the page's buttons act on all)
    _gone_since: float | None = None  # when the watchdog first found that session disconnected
    start_paused: bool = False
    _pending_steps: int = 0  # 'step' commands received while queued
    _process: Any = None
    _records: Any = None
    _commands: Any = None
    _scheduler: Any = None

    # -- the page's side ----------------------------------------------------------------------
    def poll(self) -> list[dict]:
        """Heartbeat, then take every record that arrived since the last poll."""
        self.last_seen = time.monotonic()
        if self._scheduler is not None:
            self._scheduler.tick()
        new = []
        while self._records is not None:
            try:
                msg = self._records.get_nowait()
            except (queue.Empty, OSError, ValueError, AttributeError):  # AttributeError: reaped meanwhile
                break
            event = msg["event"]
            if event == "update":
                self.records.append(msg["record"])
                new.append(msg["record"])
            elif event == "model":
                self.model_state = msg["state_dict"]  # checkpoint bytes (ui.model_io)
                self.model_version += 1
            elif event == "finished":
                self.reached_target = msg["reached_target"]
                self.state = FINISHED
            elif event in (STOPPED, DIVERGED, FAILED):
                self.state = event
                self.message = msg.get("message") or self.message
        if self.state in (FINISHED, STOPPED, DIVERGED, FAILED) and self._process is not None:
            self._reap()
        elif self._process is not None and not self._process.is_alive() and self.state in (RUNNING, PAUSED):
            self.state, self.message = FAILED, "the training process ended unexpectedly"
            self._reap()
        return new

    def send(self, command: str) -> None:
        """'pause', 'resume', 'step' or 'stop'."""
        if command == "stop" and self.state == QUEUED:
            self.state = STOPPED
            return
        if self._commands is not None and self.state in (RUNNING, PAUSED):
            self._commands.put(command)
            if command == "pause":
                self.state = PAUSED
            elif command == "resume":
                self.state = RUNNING
            elif command == "step":
                self.state = PAUSED
        elif command == "step" and self.state == QUEUED:
            self.start_paused = True
            self._pending_steps += 1  # sent to the worker once it is launched, not dropped

    def snapshot(self, timeout: float = 5.0) -> bytes | None:
        """The current policy as checkpoint bytes: asked of a live worker, else the last one kept."""
        if self.state in (RUNNING, PAUSED) and self._commands is not None:
            version = self.model_version
            self._commands.put("snapshot")
            deadline = time.monotonic() + timeout
            while self.model_version == version and time.monotonic() < deadline and self.state in (RUNNING, PAUSED):
                time.sleep(0.05)
                self.poll()
        return self.model_state

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the worker to stop; terminate it if it has not within ``timeout`` seconds."""
        if self.state == QUEUED:
            self.state = STOPPED
        if self._process is None:
            return
        if self._process.is_alive():
            try:
                self._commands.put("stop")
            except (OSError, ValueError):
                pass
            # Read while waiting: the worker exits only once its queue has written everything it
            # sent (its model, the last records), and a full pipe would hold it until the timeout.
            deadline = time.monotonic() + timeout
            while (proc := self._process) is not None and proc.is_alive() and time.monotonic() < deadline:
                self.poll_final()
                proc.join(0.05)
        self.poll_final()
        if self.state in (RUNNING, PAUSED, QUEUED):
            self.state = STOPPED
        self._reap()

    def poll_final(self) -> None:
        if self._records is None:
            return
        saved, self._scheduler = self._scheduler, None
        try:
            self.poll()
        finally:
            self._scheduler = saved

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- the scheduler's side ------------------------------------------------------------------
    def _launch(self, worker: "_WorkerProcess") -> None:
        self._process, self._records, self._commands = worker.process, worker.records, worker.commands
        worker.assign(self.config, self.start_paused)
        for _ in range(self._pending_steps):
            worker.commands.put("step")
        self._pending_steps = 0
        self.state = PAUSED if self.start_paused else RUNNING

    def _reap(self) -> None:
        proc, self._process = self._process, None
        if proc is None:
            return
        proc.join(0.5)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
        for q in (self._commands,):
            try:
                q.close()
            except (OSError, ValueError, AttributeError):
                pass
        # Read nothing more from a worker that is gone: one ended by terminate()/kill() may have
        # been cut off halfway through writing a message, and get_nowait() would then wait
        # forever for the rest (this process holds the pipe's write end too, so no EOF comes).
        self._records = None


class RunScheduler:
    """At most ``max_running`` runs at once across every session of the server; FIFO for the rest."""

    def __init__(
        self,
        max_running: int | None = None,
        abandon_after: float = 6.0,
        watchdog_interval: float = 1.0,
        spare_idle_after: float = 60.0,
        disconnect_grace: float = 3.0,
        respare_after: float = 10.0,
    ):
        self.max_running = max_running or os.cpu_count() or 2
        self.abandon_after = abandon_after
        self.spare_idle_after = spare_idle_after
        self.disconnect_grace = disconnect_grace  # a network blip reconnects the same session
        # A new spare imports torch (seconds of CPU): not while a just-started run is at its
        # first updates on the same cores, but this long after the last launch.
        self.respare_after = respare_after
        self._last_launch = -float("inf")
        # Set by the app: how many browser sessions are connected (None if it cannot tell), and
        # whether one session is still connected (None if it cannot tell).
        self.open_sessions: Callable[[], int | None] = lambda: None
        self.session_alive: Callable[[str], bool | None] = lambda session_id: None
        self._lock = threading.RLock()
        self._runs: list[TrainingRun] = []
        self._spare: _WorkerProcess | None = None  # imported and waiting, for a fast start
        self._last_activity = time.monotonic()  # a page opened or polled: keep the spare warm
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, args=(watchdog_interval,), daemon=True, name="ppo-run-watchdog")
        self._watchdog.start()

    def submit(self, run: TrainingRun) -> TrainingRun:
        run._scheduler = self
        run.last_seen = time.monotonic()
        with self._lock:
            self._runs.append(run)
        self.tick()
        return run

    def queue_position(self, run: TrainingRun) -> int | None:
        """1 for the next run to start, None when the run is not waiting."""
        with self._lock:
            waiting = [r for r in self._runs if r.state == QUEUED]
        return waiting.index(run) + 1 if run in waiting else None

    def running(self) -> list[TrainingRun]:
        with self._lock:
            return [r for r in self._runs if r.state in (RUNNING, PAUSED)]

    def tick(self) -> None:
        """Forget ended runs; start queued runs while there is room."""
        self._last_activity = time.monotonic()
        with self._lock:
            self._runs = [r for r in self._runs if r.active]
            busy = sum(r.state in (RUNNING, PAUSED) for r in self._runs)
            for r in self._runs:
                if busy >= self.max_running:
                    break
                if r.state == QUEUED:
                    worker, self._spare = self._spare or _WorkerProcess(), None
                    r._launch(worker)
                    self._last_launch = time.monotonic()
                    busy += 1
            if self._spare is None and busy < self.max_running and time.monotonic() - self._last_launch >= self.respare_after:
                self._spare = _WorkerProcess()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._lock:
                abandoned = [r for r in self._runs if r.active and self._abandoned(r, now)]
            for r in abandoned:
                r.message = "stopped: its page was closed"
                r.stop(timeout=2.0)
            if abandoned:
                with self._lock:
                    self._runs = [r for r in self._runs if r.active]
            # Nobody is connected (or no page has run for a minute) and nothing trains: let the
            # spare worker go too, so a server nobody is using has no worker process at all.
            try:
                sessions = self.open_sessions()
            except Exception:  # noqa: BLE001 - a hint only; fall back to the idle timer
                sessions = None
            with self._lock:
                # (ended runs stay in _runs until the next tick; only an active one needs the server)
                idle = not any(r.active for r in self._runs) and (sessions == 0 or now - self._last_activity > self.spare_idle_after)
                spare = self._spare if idle else None
                if spare is not None:
                    self._spare = None
            if spare is not None:
                spare.discard()

    def _abandoned(self, run: TrainingRun, now: float) -> bool:
        """Has the run's session ended? By the app's word if it can tell, else by the heartbeat."""
        alive = None
        if run.session_id is not None:
            try:
                alive = self.session_alive(run.session_id)
            except Exception:  # noqa: BLE001 - a hint only; fall back to the heartbeat
                alive = None
        if alive is None:
            return now - run.last_seen > self.abandon_after
        if alive:
            run._gone_since = None
            return False
        if run._gone_since is None:
            run._gone_since = now
        return now - run._gone_since >= self.disconnect_grace

    def warm_up(self) -> None:
        """Start the spare worker now (the page calls this when it opens)."""
        self.tick()

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()
        with self._lock:
            runs = list(self._runs)
        for r in runs:
            r.stop(timeout=2.0)


_scheduler: RunScheduler | None = None
_scheduler_lock = threading.Lock()


def get_scheduler() -> RunScheduler:
    """The server's one scheduler (created on first use, shared by every session)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = RunScheduler()
        return _scheduler
