"""Training runs beside the app server: a spawned worker process per run (reused for the next run once one ends), a server-wide cap.

Streamlit reruns a page's script on every interaction, so a training loop on the script thread
would freeze the page. Each run is a process of its own (spawned, lower priority than the
server, one torch thread) that sends one record per update through a pipe and obeys commands
(pause, resume, step, stop, and the pace: seconds to wait between updates) sent through another. A thread of the server reads each worker's
pipe as the records come, so a worker never waits on a page; the page polls
:meth:`TrainingRun.poll` on a timer and redraws from the records it has.

A worker may die at any moment (the out-of-memory killer, a crash, ``kill -9``). Each pipe has
a single writer: the server closes its copy of the worker's end once the worker has started, so
a dead worker gives end-of-file on the reader even halfway through a message. The run then
fails with the signal or exit code, keeps the records it received, and frees its core.

A :class:`RunScheduler` (one per server process) lets at most ``max_running`` runs compute at
once, one per core, and queues the rest first come, first served. A paused run holds no core:
its process waits at no CPU and a queued run may start meanwhile; a paused run that resumes (or
steps) while every core is busy waits its turn in the same queue. Each process holds ~300 MB,
so paused runs are bounded too: one paused for ``pause_limit`` seconds (10 minutes) is stopped,
and when a queued run needs a process while ``max_paused`` (8) paused runs keep theirs, the one
paused longest is stopped. Live workers: at most ``max_running + max_paused`` plus one spare.

Every run is written to the run store (runs.store) as it trains: its row at submit, each
record as the reader thread receives it (batched by RecordWriter, so training never waits on a
transaction per update), its state at every change, its outcome and final model at the end. A
run therefore needs no browser session: a reload, another tab or a restarted server reads it
from the store, and the watchdog takes a run's records and last event when no page polls it.

With stop-on-disconnect on (``PPO_STOP_ON_DISCONNECT=1``; off by default), runs stop when
their session ends: a watchdog thread asks (``session_alive``) whether each
run's browser session is still connected and stops the runs of a session gone for
``disconnect_grace`` seconds (tab closed, page reloaded). The server's scheduler asks the
:data:`SESSIONS` registry, which the app keeps through a session-scoped Streamlit resource
(views/session.py). Where nobody can tell, it falls back to the heartbeat that
:meth:`TrainingRun.poll` records and stops runs not polled for ``abandon_after`` seconds. A
connected tab in the background (whose timers the browser slows down) keeps its run. A worker exits by itself when the server goes away (end-of-file on its
command pipe, or a broken records pipe).

No Streamlit in this module: the tests drive it directly.
"""

from __future__ import annotations

import importlib.machinery
import logging
import multiprocessing as mp
import os
import queue
import signal
import socket
import sys
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from runs.store import DEFAULT_DATA_DIR, RecordWriter, RunStore

log = logging.getLogger(__name__)

# States a run passes through.
QUEUED, RUNNING, PAUSED, FINISHED, STOPPED, DIVERGED, FAILED = (
    "queued", "running", "paused", "finished", "stopped", "diverged", "failed",
)
ACTIVE = (QUEUED, RUNNING, PAUSED)
# A run whose server stopped while it trained (runs.store.mark_interrupted), or whose Ray worker
# or node died (runs.ray_executor): it ended with the records that reached the store.
INTERRUPTED = "interrupted"
ENDED = (FINISHED, STOPPED, DIVERGED, FAILED, INTERRUPTED)
PAUSE_LIMIT_S = 600.0  # a run paused this long is stopped: its idle process still holds ~300 MB
MAX_PAUSED = 8  # paused runs that keep a process while a queued run waits for one (~2.4 GB)
_SPAWN_LOCK = threading.Lock()
_NO_MAIN = types.ModuleType("__main__")
_NO_MAIN.__spec__ = importlib.machinery.ModuleSpec("runs.manager.__main__", None)
BATCH_POINTS = 400  # (ratio, advantage) samples sent per update for the clip plot
MAX_PACE_S = 10.0  # the longest wait between updates a run may be given (TrainingRun.set_pace)
MAX_RUNS_PER_STUDENT = 3  # a student's runs queued, running or paused at once (a comparison counts each)
STOP_ON_DISCONNECT_ENV = "PPO_STOP_ON_DISCONNECT"  # "1": a run stops when its browser session ends
DATA_DIR_ENV = "PPO_DATA_DIR"  # the folder of the default SQLite store (without DATABASE_URL)
ANONYMOUS = "anonymous"  # the owner stored for a run submitted without a personal token


# Replicas sharing one store: each server beats every SERVER_HEARTBEAT_S seconds, and the runs of
# a server silent for SERVER_STALE_S are interrupted (by whichever server notices first).
SERVER_HEARTBEAT_S = 5.0
SERVER_STALE_S = 30.0


def _pid_alive(pid: int) -> bool:
    """Is a process with this id running on this machine? (A reused id reads as alive: the
    heartbeat's limit then decides.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_on_disconnect_default() -> bool:
    """Whether runs stop when their session ends: off unless ``PPO_STOP_ON_DISCONNECT`` is 1
    (or true/yes/on). Runs are kept in the store, so a reload loses nothing; a server short of
    CPU may still want a closed tab's run to give its core back."""
    return os.environ.get(STOP_ON_DISCONNECT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class TooManyRuns(ValueError):
    """The student already has as many active runs as the server allows each student."""

# What a signal that ends a worker most likely means, for the page's message.
_SIGNAL_MEANINGS = {
    signal.SIGKILL: "killed, perhaps out of memory",
    signal.SIGSEGV: "a crash inside a native library",
    signal.SIGABRT: "aborted by a native library",
    signal.SIGTERM: "ended by another process",
}


def exit_reason(exitcode: int | None) -> str:
    """How a process ended, for a person: 'signal 9, SIGKILL — killed, perhaps out of memory'."""
    if exitcode is None:
        return "it closed its pipe but did not exit"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        return f"signal {number}, {name} — {_SIGNAL_MEANINGS.get(number) or signal.strsignal(number) or 'no description'}"
    return f"exit code {exitcode}"


def _duration(seconds: float) -> str:
    """'10 minutes', '1 minute', '45 s': how long a run was paused, for its message."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _state_dict_bytes(trainer) -> bytes:
    """The checkpoint as bytes (parameters and observation statistics): tensors sent as they
    are would travel as shared-memory handles that die with the worker."""
    from ui.model_io import checkpoint_bytes

    return checkpoint_bytes(trainer.agent.state_dict(), trainer.observation_stats())


class _ServerGone(Exception):
    """The server closed its end of a pipe (it has let the run go, or it died)."""


def _worker(records, commands) -> None:
    """A worker process: import the heavy libraries, say it is ready, wait for a config, train.

    ``records`` is the sending end of one pipe, ``commands`` the receiving end of another.
    Spawned ahead of need (the scheduler keeps one spare), so a run's first record does not
    wait for a fresh interpreter to import torch. Never raises: failures become records, and a
    server that is gone ends the worker quietly.
    """
    try:
        _serve(records, commands)
    except _ServerGone:
        pass


def _serve(records, commands) -> None:
    def send(message: dict) -> None:
        try:
            records.send(message)
        except OSError as exc:  # a broken pipe: nobody reads our records any more
            raise _ServerGone from exc

    def next_command(timeout: float):
        """The next command, or None after ``timeout`` seconds without one."""
        try:
            return commands.recv() if commands.poll(timeout) else None
        except (EOFError, OSError) as exc:  # the server closed its end, or died
            raise _ServerGone from exc

    try:
        os.nice(10)  # the app server, at normal priority, stays responsive
    except OSError:
        pass
    import torch

    torch.set_num_threads(1)
    from ppo_core import PRESETS, PPOTrainer

    # Pay the one-time costs while idle: the first optimiser imports torch._dynamo (3.6 s here)
    # and the first environment its module; a run then starts training at once.
    PPOTrainer(PRESETS["cartpole"].replace(num_envs=1, num_steps=4, num_minibatches=1, total_steps=4)).close()
    send({"event": "ready"})
    # One run after another: a worker whose run has ended goes back to waiting for the next
    # (runs.manager keeps it for the next run in the queue), so a class of thirty runs pays the
    # import of torch twice, not thirty times.
    while True:
        while True:  # idle until given a run
            msg = next_command(0.5)
            if msg == "stop":
                return
            if isinstance(msg, tuple) and msg[0] == "run":
                _, config, start_paused = msg
                break
        _train(config, start_paused, send, next_command)


def _train(config: dict, start_paused: bool, send, next_command) -> None:
    """Train one run to its end, obeying the server's commands; the last message sent is the
    run's end ("finished", "stopped", "diverged" or "failed")."""
    from ppo_core import PPOConfig, PPOTrainer, TrainingDiverged
    from ppo_core.advantages import normalize_advantages

    # Commands received: the server counts the ones it sent, and frees the run's core once an
    # "idle" record says every one of them has been read and the worker computes nothing. (The
    # count starts at 1, the run command itself: the server counts from the run's assignment.)
    seen = 1

    trainer = None
    try:
        trainer = PPOTrainer(PPOConfig.from_dict(config))
        rng = np.random.default_rng(0)
        paused, steps_allowed = start_paused, 0
        # The pace: seconds between the end of one update and the start of the next (0: full
        # speed), so a class can follow a run update by update. Only the wait changes: the
        # trainer, its seed and its records (wall_s counts training time) are the same.
        pace, last_update_end = 0.0, time.monotonic()
        send({"event": "started"})
        if paused:
            send({"event": "idle", "seen": seen})
        while not trainer.done:
            if paused and steps_allowed == 0:
                wait = 0.5
            else:  # a step goes at once; an update at its pace (commands are still answered meanwhile)
                wait = 0.0 if steps_allowed else max(0.0, last_update_end + pace - time.monotonic())
            cmd = next_command(wait)
            if cmd is not None:
                seen += 1
                if cmd == "stop":
                    send({"event": "model", "state_dict": _state_dict_bytes(trainer)})
                    send({"event": "stopped"})
                    return
                if cmd == "snapshot":
                    send({"event": "model", "state_dict": _state_dict_bytes(trainer)})
                elif cmd == "pause":
                    paused = True
                elif cmd == "resume":
                    paused, steps_allowed = False, 0
                elif cmd == "step":
                    steps_allowed += 1
                elif isinstance(cmd, tuple) and cmd[0] == "pace":
                    pace = float(cmd[1])
                if paused and steps_allowed == 0:
                    send({"event": "idle", "seen": seen})
            if paused and steps_allowed == 0:
                continue
            if not steps_allowed and time.monotonic() < last_update_end + pace:
                continue  # not yet this update's turn at the pace
            beta = trainer.kl_beta  # the β this update's loss uses (the record has the adapted one)
            record = trainer.train_one_update()
            batch = trainer.last_batch
            n = len(batch)
            idx = rng.choice(n, size=min(BATCH_POINTS, n), replace=False)
            record["batch_ratio"] = trainer.last_ratios[idx].astype(float).tolist()
            record["batch_advantage"] = normalize_advantages(batch.advantages).numpy()[idx].astype(float).tolist()
            if trainer.config.objective == "kl_penalty":
                record["batch_kl_beta"] = beta
            send({"event": "update", "record": record})
            last_update_end = time.monotonic()
            if steps_allowed:
                steps_allowed -= 1
                if paused and steps_allowed == 0:
                    send({"event": "idle", "seen": seen})
        send({"event": "model", "state_dict": _state_dict_bytes(trainer)})
        send({"event": "finished", "reached_target": trainer.reached_target})
    except TrainingDiverged as exc:
        send({"event": "diverged", "message": str(exc)})
    except _ServerGone:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the page rather than lost in a log
        send({"event": "failed", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        if trainer is not None:
            trainer.close()


_LAST_EVENTS = ("finished", "stopped", "diverged", "failed")


class _WorkerProcess:
    """A spawned worker, the two pipes to it, and the server thread that reads its records.

    The reader thread puts each record in :attr:`inbox` for the run's page to take, and keeps
    what the scheduler needs to know at any time: is the worker alive, is it computing."""

    def __init__(self, target: Callable = _worker):
        ctx = mp.get_context("spawn")  # a fresh interpreter: no forked server threads or sockets
        records_in, records_out = ctx.Pipe(duplex=False)
        commands_in, commands_out = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=target, args=(records_out, commands_in), daemon=True, name="ppo-worker")
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
        # The child has its own copies now. With ours closed each pipe has one writer, so when
        # the worker dies, even halfway through a message, the reader gets end-of-file at once
        # (an mp.Queue keeps both ends in both processes: its reader would wait forever).
        records_out.close()
        commands_in.close()
        self._attach(commands_out, records_in)

    def _attach(self, commands, records) -> None:
        """Keep the command pipe's sending end and start reading the records pipe (an executor
        of another kind, runs.ray_executor, hands in pipes of its own with the same methods)."""
        self._commands = commands
        self._send_lock = threading.Lock()  # the page's thread and the watchdog may both send
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.sent = 0  # commands sent
        self.idle_seen = -1  # the worker's last "idle" record: after how many commands
        self.ended = False  # it has sent its last record
        self.error = ""  # why its records could not be read, if that is how it ended
        self.ready = threading.Event()  # torch imported, waiting for a run
        # The run's store writer, set when a run is given to this worker (before its config is
        # sent): the reader thread writes each record as it arrives, batched (RecordWriter).
        self.writer: RecordWriter | None = None
        self.gone = threading.Event()  # its records pipe is closed: the worker has exited
        self.run_over = threading.Event()  # its run's last record has come (or the worker has exited)
        self._reader = threading.Thread(target=self._read, args=(records,), daemon=True, name=f"ppo-worker-{self.describe()}-records")
        self._reader.start()

    # What is said of a worker, for the run's row in the store and the page.
    lost_state = FAILED  # a run whose worker died without its last record
    placed = None  # (Ray: an Event set once the cluster has placed the worker; a process has its core)

    def describe(self) -> str:
        return f"local pid {self.process.pid}"

    def lost_message(self, exitcode: int | None) -> str:
        if self.error:
            return f"the training process was ended: {self.error}"
        return f"the training process ended unexpectedly ({exit_reason(exitcode)})"

    def _read(self, records) -> None:
        try:
            while True:
                msg = records.recv()
                event = msg["event"]
                if event == "ready":
                    self.ready.set()
                elif event == "idle":
                    self._store(None)  # paused: what it sent is in the store now
                    self.idle_seen = msg["seen"]
                else:
                    if event == "update":
                        self._store(msg["record"])
                    elif event in _LAST_EVENTS:
                        self._store(None)  # every record is stored before the page hears of the end
                    self.inbox.put(msg)
                    if event in _LAST_EVENTS:
                        self.ended = True
                        self.run_over.set()
        except (EOFError, OSError):
            pass  # the worker exited or was killed ("got end of file during message")
        except Exception as exc:  # noqa: BLE001 - unreadable data: the run fails, saying so
            self.error = f"its records could not be read ({type(exc).__name__}: {exc})"
        finally:
            records.close()
            self._store(None)
            self.gone.set()
            self.run_over.set()

    def _store(self, record: dict | None) -> None:
        """Queue ``record`` for the store (None: write what is queued now). A failed write keeps
        its records for the next try (RecordWriter): training never waits on a broken database."""
        writer = self.writer
        if writer is None:
            return
        try:
            if record is None:
                writer.flush()
            else:
                writer.add(record)
        except Exception:  # noqa: BLE001 - logged; the records stay queued and are resent
            log.exception("could not store records of run %s (%d waiting)", writer.run_id, writer.pending)

    @property
    def usable(self) -> bool:
        return not self.gone.is_set() and self.process.is_alive()

    @property
    def computing(self) -> bool:
        """Training, or about to: until the worker has said it is idle after the last command."""
        return self.usable and not self.ended and self.idle_seen != self.sent

    def send(self, command) -> None:
        with self._send_lock:
            self.sent += 1
            try:
                self._commands.send(command)
            except (OSError, ValueError):  # closed, or a broken pipe: the reader reports the end
                pass

    def assign(self, config: dict, start_paused: bool) -> None:
        """Give the worker a run (a new one, or the next after its last run ended): the command
        count starts again, as the worker's does."""
        with self._send_lock:
            self.sent, self.idle_seen, self.ended = 0, -1, False
            self.run_over.clear()
        self.send(("run", config, start_paused))

    @property
    def reusable(self) -> bool:
        """Its run ended by the worker's own last record and it lives on: it may train the next."""
        return self.ended and self.usable and not self.error

    def close(self) -> None:
        """Close the command pipe: a worker still running reads end-of-file and exits."""
        with self._send_lock:
            self._commands.close()

    def discard(self) -> None:
        self.send("stop")
        self.close()
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


@dataclass(eq=False)
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
    owner: str | None = None  # the student's personal token (runs.store), for the store and the cap
    preset: str = ""  # the preset it started from (the store's and the page's label)
    pace_s: float = 0.0  # seconds its worker waits between updates (0: full speed); set_pace changes it
    class_id: str | None = None  # the class it was started in (runs.store), if any
    assignment_id: str | None = None  # and the class's assignment it answers
    _gone_since: float | None = None  # when the watchdog first found that session disconnected
    start_paused: bool = False
    _pending_steps: int = 0  # 'step' commands waiting for a core (queued, or paused)
    _wants_resume: bool = False  # paused, and asked to resume while every core was busy
    _waiting_since: float | None = None  # its place in the queue for a core
    _paused_since: float | None = None  # the last pause or step, for the pause limit
    _started_at: float | None = None  # when it got its worker (its seconds to target count from here)
    _store: Any = None  # the scheduler's RunStore, if runs are kept
    _stopping: bool = False
    _worker: Any = None
    _process: Any = None
    _scheduler: Any = None
    # poll, send and stop may come from the page's thread and the watchdog at once. The
    # scheduler takes a run's lock inside its own, so a run never calls the scheduler holding it.
    _lock: Any = field(default_factory=threading.RLock, repr=False)

    # -- the page's side ----------------------------------------------------------------------
    def poll(self) -> list[dict]:
        """Heartbeat, then take every record that arrived since the last poll. Never blocks on
        the worker: its records are read as they come by the server's reader thread."""
        self.last_seen = time.monotonic()
        if self._scheduler is not None:
            self._scheduler.tick()
        with self._lock:
            return self._take_records()

    @property
    def waiting_for(self) -> str | None:
        """What the run waits for a free core to do: 'start', 'resume', 'step', or None."""
        if self.state == QUEUED:
            return "start"
        if self.state == PAUSED and not self._stopping:
            if self._wants_resume:
                return "resume"
            if self._pending_steps:
                return "step"
        return None

    @property
    def waiting_for_cluster(self) -> bool:
        """Launched on Ray, and Ray has not placed its actor yet (no CPU of the cluster free)."""
        worker = self._worker
        return worker is not None and worker.placed is not None and not worker.placed.is_set()

    def send(self, command: str) -> None:
        """'pause', 'resume', 'step', 'snapshot' or 'stop' (without waiting). Resume and step
        take a core: with every core busy they wait their turn in the queue."""
        with self._lock:
            now = time.monotonic()
            if self.state == QUEUED:
                if command == "stop":
                    self._set_state(STOPPED)
                elif command == "step":
                    self.start_paused = True
                    self._pending_steps += 1  # sent to the worker once it is launched, not dropped
                return
            worker = self._worker
            if worker is None or self.state not in (RUNNING, PAUSED) or self._stopping:
                return
            if command == "pause":
                if self.state == RUNNING:
                    worker.send("pause")
                self._wants_resume, self._paused_since = False, now
                self._set_state(PAUSED)
                if not self._pending_steps:
                    self._waiting_since = None
            elif command in ("resume", "step") and self.state == PAUSED:
                if command == "resume":
                    self._wants_resume = True
                else:
                    self._pending_steps += 1
                    self._paused_since = now
                if self._waiting_since is None:
                    self._waiting_since = now
                if self._scheduler is None:
                    self._grant()
            elif command in ("stop", "snapshot"):
                worker.send(command)
                self._stopping = command == "stop"
        if self._scheduler is not None:
            self._scheduler.tick()  # a free core is granted at once

    def set_pace(self, seconds: float) -> None:
        """Wait ``seconds`` between updates from now on (0: full speed), so a teacher can narrate
        each update. The records are the same at any pace (same seed, same curve)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0.0 <= seconds <= MAX_PACE_S:
            raise ValueError(f"pace: must be from 0 to {MAX_PACE_S:g} seconds between updates; got {seconds!r}")
        with self._lock:
            self.pace_s = float(seconds)
            if self._worker is not None and self.state in (RUNNING, PAUSED) and not self._stopping:
                self._worker.send(("pace", self.pace_s))

    def snapshot(self, timeout: float = 5.0) -> bytes | None:
        """The current policy as checkpoint bytes: asked of a live worker, else the last one kept."""
        with self._lock:
            asked = self.state in (RUNNING, PAUSED) and self._worker is not None and not self._stopping
            version = self.model_version
            if asked:
                self._worker.send("snapshot")
        deadline = time.monotonic() + timeout
        while asked and self.model_version == version and time.monotonic() < deadline and self.state in (RUNNING, PAUSED):
            time.sleep(0.05)
            self.poll()
        return self.model_state

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the worker to stop and wait for it to send its model and exit; end it if it has
        not within ``timeout`` seconds (then its latest model is lost)."""
        with self._lock:
            if self.state == QUEUED:
                self._set_state(STOPPED)
            worker, proc = self._worker, self._process
            if proc is None:
                return
            self._wants_resume, self._pending_steps, self._waiting_since = False, 0, None
            if worker is not None and not self._stopping:
                worker.send("stop")
            self._stopping = True
        # Waited for outside the lock, so the page may poll meanwhile. The reader thread keeps
        # reading, so a worker sending a large model never waits on a full pipe.
        if worker is not None:
            worker.run_over.wait(timeout)
        else:
            proc.join(timeout)
        with self._lock:
            if self._process is not proc:  # a poll meanwhile took the last record and reaped it
                return
            self._take_records()
            if self._process is proc:  # it did not answer in time
                self._reap()
                if self.state in ACTIVE:
                    late = f"the training process did not answer within {timeout:g} s and was ended, so its latest model is not saved"
                    self.message = f"{self.message}; {late}" if self.message else f"stopped: {late}"
                    self._set_state(STOPPED)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def pid(self) -> int | None:
        proc = self._process
        return proc.pid if proc is not None else None

    # -- under the run's lock ------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        """Every change of state goes through here, so the store sees each one (set the message
        first: it is stored with the state)."""
        changed = state != self.state
        self.state = state
        if changed and self._store is not None:
            self._persist_state()

    def _persist_state(self) -> None:
        """The state and message in the store; at the end, the outcome and the final model first,
        so that a reader who sees the final status also sees what it ended with. A store that
        fails is logged: the run itself goes on (the page still has it)."""
        store = self._store
        try:
            if self.state in ENDED:
                self._persist_outcome(store)
            store.set_status(self.id, self.state, self.message)
        except Exception:  # noqa: BLE001 - logged, never raised into a page or the watchdog
            log.exception("could not store the %s state of run %s", self.state, self.id)

    def _persist_outcome(self, store) -> None:
        from ui.report import steps_to_target  # (imports pandas: only once a run ends)

        target = self.config.get("target_return")
        reached_at = steps_to_target(self.records, target)
        seconds = None
        if reached_at is not None:  # training seconds (pauses excluded) at that update
            seconds = next(r.get("wall_s") for r in self.records if r.get("global_step") == reached_at)
        final = self.records[-1].get("episode_return_mean") if self.records else None
        store.set_outcome(self.id, reached_target=reached_at is not None, steps_to_target=reached_at,
                          seconds_to_target=seconds, final_return=final)
        if self.state in (FINISHED, STOPPED) and self.model_state is not None:
            store.save_model(self.id, self.model_state)

    def _take_records(self) -> list[dict]:
        worker = self._worker
        if worker is None:
            return []
        gone = worker.gone.is_set()  # read first: once it is set, every record is in the inbox
        new = []
        while True:
            try:
                msg = worker.inbox.get_nowait()
            except queue.Empty:
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
                self._set_state(FINISHED)
            elif event in (STOPPED, DIVERGED, FAILED):
                self.message = msg.get("message") or self.message
                self._set_state(event)
        if self.state in ENDED:
            self._release()
        elif gone:  # no last record: it died (the records received so far are kept)
            exitcode = self._reap()
            self.message = worker.lost_message(exitcode)
            self._set_state(worker.lost_state)
        return new

    def _release(self) -> None:
        """The run has ended: its worker goes back to the scheduler for the next run if it can
        train one (runs.manager.RunScheduler._recycle), else it is ended."""
        worker, scheduler = self._worker, self._scheduler
        if worker is not None and worker.reusable and scheduler is not None and scheduler._recycle(worker):
            self._process = self._worker = None
            self._stopping, self._wants_resume, self._pending_steps, self._waiting_since = False, False, 0, None
            return
        self._reap()

    def _reap(self) -> int | None:
        """Forget the worker; end its process if it has not exited. Returns its exit code."""
        proc, worker = self._process, self._worker
        self._process = self._worker = None
        self._stopping, self._wants_resume, self._pending_steps, self._waiting_since = False, False, 0, None
        if worker is not None:
            worker.close()  # a worker still running reads end-of-file and exits by itself
        if proc is None:
            return None
        proc.join(0.5)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
        return proc.exitcode

    def _holds_core(self) -> bool:
        worker = self._worker
        return worker is not None and worker.computing

    # -- the scheduler's side (under the scheduler's lock) -------------------------------------
    def _launch(self, worker: _WorkerProcess) -> None:
        with self._lock:
            self._process, self._worker = worker.process, worker
            if self._store is not None:
                worker.writer = RecordWriter(self._store, self.id)
                try:
                    self._store.set_executor(self.id, worker.describe())
                except Exception:  # noqa: BLE001 - a detail of the row; training goes on
                    log.exception("could not store the executor of run %s", self.id)
            worker.assign(self.config, self.start_paused)
            if self.pace_s:
                worker.send(("pace", self.pace_s))
            for _ in range(self._pending_steps):
                worker.send("step")
            self._pending_steps, self._waiting_since = 0, None
            self._started_at = time.monotonic()
            self._set_state(PAUSED if self.start_paused else RUNNING)
            self._paused_since = time.monotonic() if self.start_paused else None

    def _grant(self) -> None:
        """A core is free for this paused run: send the resume or the steps that waited for it."""
        with self._lock:
            if self.state != PAUSED or self._worker is None or self._stopping:
                return
            if self._wants_resume:
                self._worker.send("resume")  # (it also cancels steps not yet taken)
                self._paused_since = None
                self._set_state(RUNNING)
            else:
                for _ in range(self._pending_steps):
                    self._worker.send("step")
            self._wants_resume, self._pending_steps, self._waiting_since = False, 0, None


class StoredRun:
    """A run read back from the store, with the attributes and methods of a :class:`TrainingRun`
    that the page reads, so the page draws, exports and plays it the one way it does a live run.

    It has no worker: commands do nothing. A run still active in the store but trained by
    another process (a replica sharing the database) is followed by :meth:`poll`, which reads
    the records added since and the row's new state."""

    group = None
    waiting_for = None
    waiting_for_cluster = False
    pid = None
    start_paused = False
    pace_s = 0.0

    def __init__(self, store: RunStore, row):
        self._store = store
        self.id = row.id
        self.records: list[dict] = store.records(row.id)
        self._apply(row)

    def _apply(self, row) -> None:
        self.config, self.label, self.preset, self.owner = row.config, row.label, row.preset, row.token
        self.class_id, self.assignment_id = row.class_id, row.assignment_id
        self.state, self.message, self.reached_target = row.status, row.message, row.reached_target
        self.last_step, self.has_model = row.last_step, row.has_model
        self.created_at = row.created_at
        self._model: bytes | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def model_state(self) -> bytes | None:
        """The final model's bytes, read from the store the first time they are asked for."""
        if self._model is None and self.has_model:
            self._model = self._store.model(self.id)
        return self._model

    def poll(self) -> list[dict]:
        if not self.active:
            return []
        new = self._store.records(self.id, since_seq=len(self.records))
        self.records.extend(new)
        row = self._store.run(self.id)
        if row is not None:
            self._apply(row)
        return new

    def snapshot(self, timeout: float = 5.0) -> bytes | None:
        return self.model_state

    def send(self, command: str) -> None:
        """No worker here to command (the process that trains it does)."""

    def set_pace(self, seconds: float) -> None:
        """No worker here to pace."""

    def stop(self, timeout: float = 3.0) -> None:
        """No worker here to stop."""


def open_run(run_id: str, store: RunStore, scheduler: "RunScheduler | None" = None) -> "TrainingRun | StoredRun | None":
    """The run with this id: the live one if ``scheduler`` trains it, else as the store has it
    (None if neither knows it)."""
    live = scheduler.find(run_id) if scheduler is not None else None
    if live is not None:
        return live
    row = store.run(run_id)
    return None if row is None else StoredRun(store, row)


class RunScheduler:
    """At most ``max_running`` runs computing at once across every session of the server;
    first come, first served for the rest (queued runs, and paused runs asked to resume or step)."""

    def __init__(
        self,
        max_running: int | None = None,
        abandon_after: float = 6.0,
        watchdog_interval: float = 1.0,
        spare_idle_after: float = 60.0,
        disconnect_grace: float = 3.0,
        respare_after: float = 10.0,
        pause_limit: float = PAUSE_LIMIT_S,
        max_paused: int = MAX_PAUSED,
        store: RunStore | None = None,
        stop_on_disconnect: bool | None = None,
        max_runs_per_student: int = MAX_RUNS_PER_STUDENT,
        executor: str | None = None,
    ):
        """``store``: where every run is written as it trains (None: runs are kept in memory
        only); the active runs a dead predecessor left in it are marked interrupted now.
        ``stop_on_disconnect``: stop a run when its session ends (None: ``PPO_STOP_ON_DISCONNECT``).
        ``max_runs_per_student``: active runs one owner may have at once (:class:`TooManyRuns`).
        ``executor``: "local" (a process per run on this server) or "ray" (an actor per run on
        the cluster of ``RAY_ADDRESS``: runs.ray_executor); None reads ``PPO_EXECUTOR``."""
        from runs.ray_executor import executor_from_env

        self.executor = executor or executor_from_env()
        self.max_running = max_running or os.cpu_count() or 2
        if self.executor == "ray":
            # Queueing is Ray's: every run is launched at once and its actor waits for a CPU of
            # the cluster; our cap of running and paused processes is this server's, not the cluster's.
            self.max_running, max_paused = float("inf"), float("inf")
        self.store = store
        self.stop_on_disconnect = stop_on_disconnect_default() if stop_on_disconnect is None else stop_on_disconnect
        self.max_runs_per_student = max_runs_per_student
        self.server_id: str | None = None
        self._last_heartbeat = self._last_orphan_check = time.monotonic()
        if store is not None:
            # Replicas may share the store: this server says who it is, and marks interrupted
            # only the runs that no live server trains (a predecessor's, a dead replica's).
            self.server_id = store.register_server(socket.gethostname(), os.getpid())
            self._mark_orphans()
        self.abandon_after = abandon_after
        self.spare_idle_after = spare_idle_after
        self.disconnect_grace = disconnect_grace  # a network blip reconnects the same session
        # A new spare imports torch (seconds of CPU): not while a just-started run is at its
        # first updates on the same cores, but this long after the last launch.
        self.respare_after = respare_after
        self.pause_limit = pause_limit
        self.max_paused = max_paused
        self._last_launch = -float("inf")
        # How many browser sessions are connected, and whether one session still is (None: cannot
        # tell). get_scheduler() points both at the SESSIONS registry; a test may set its own.
        self.open_sessions: Callable[[], int | None] = lambda: None
        self.session_alive: Callable[[str], bool | None] = lambda session_id: None
        self._lock = threading.RLock()
        self._runs: list[TrainingRun] = []
        self._spare: _WorkerProcess | None = None  # imported and waiting, for a fast start
        # Workers whose run has ended, waiting for the next run (at most max_running of them).
        # Their own lock: a run hands its worker back while holding its lock, never the scheduler's.
        self._recycled: list[_WorkerProcess] = []
        self._recycled_lock = threading.Lock()
        self._last_activity = time.monotonic()  # a page opened or polled: keep the spare warm
        self.room_wanted = False  # the queue's first run waits for a process (max_paused), not a core
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, args=(watchdog_interval,), daemon=True, name="ppo-run-watchdog")
        self._watchdog.start()

    def runs_left(self, owner: str | None) -> int | None:
        """How many more active runs ``owner`` may start (None: no owner, no cap)."""
        if owner is None:
            return None
        with self._lock:
            mine = sum(r.active and r.owner == owner for r in self._runs)
        return max(self.max_runs_per_student - mine, 0)

    def too_many_runs_message(self, owner: str | None, wanted: int = 1) -> str:
        """Why ``wanted`` more runs of ``owner`` cannot start, naming the cap."""
        left = self.runs_left(owner) or 0
        have = self.max_runs_per_student - left
        return (f"Each student may have at most {self.max_runs_per_student} runs queued, running or paused at once; "
                f"you have {have}, and this would start {wanted}: stop one (or wait for one to finish) first.")

    def submit(self, run: TrainingRun) -> TrainingRun:
        """Queue the run (and create its row in the store). Raises :class:`TooManyRuns` when its
        owner already has ``max_runs_per_student`` active runs."""
        with self._lock:
            left = self.runs_left(run.owner)
            if left is not None and left < 1:
                raise TooManyRuns(self.too_many_runs_message(run.owner))
            if self.store is not None:
                self.store.create_run(
                    run.owner or ANONYMOUS, run.preset or run.config.get("env_id", ""), run.config,
                    int(run.config.get("seed", 0)), label=run.label, status=run.state, run_id=run.id,
                    server_id=self.server_id,
                    class_id=run.class_id, assignment_id=run.assignment_id,
                )
                run._store = self.store
            run._scheduler = self
            run.last_seen = run._waiting_since = time.monotonic()
            self._runs.append(run)
        self.tick()
        return run

    def find(self, run_id: str) -> TrainingRun | None:
        """The run with this id while this scheduler trains it (or has just ended it), else None."""
        with self._lock:
            return next((r for r in self._runs if r.id == run_id), None)

    def _waiting(self) -> list[TrainingRun]:
        """The runs waiting for a core, in the order they began to wait."""
        return sorted((r for r in self._runs if r.waiting_for), key=lambda r: r._waiting_since or r.created)

    def queue_position(self, run: TrainingRun) -> int | None:
        """1 for the next run to get a core, None when the run is not waiting."""
        with self._lock:
            waiting = self._waiting()
        return waiting.index(run) + 1 if run in waiting else None

    def running(self) -> list[TrainingRun]:
        """The runs with a process: training or paused."""
        with self._lock:
            return [r for r in self._runs if r.state in (RUNNING, PAUSED)]

    def training(self) -> list[TrainingRun]:
        """The runs holding a core: training, or taking the single update of a step."""
        with self._lock:
            return [r for r in self._runs if r._holds_core()]

    def tick(self) -> None:
        """A page polled: forget ended runs; give free cores to the waiting runs in order."""
        self._last_activity = time.monotonic()
        self._schedule()

    def _schedule(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._runs = [r for r in self._runs if r.active]
            with self._recycled_lock:  # a recycled worker that died while idle is ended now
                dead = [w for w in self._recycled if not w.usable]
                self._recycled = [w for w in self._recycled if w.usable]
            for w in dead:
                w.discard()
            if self._spare is not None and not self._spare.usable:  # died while idle: replaced below
                self._spare.discard()
                self._spare = None
            holders = {r.id for r in self._runs if r._holds_core()}
            self.room_wanted = False
            for r in self._waiting():
                if r._stopping:
                    continue
                if r.id not in holders and len(holders) >= self.max_running:
                    break  # nobody overtakes the first in the queue
                if r.state == QUEUED:
                    if sum(x._process is not None for x in self._runs) >= self.max_running + self.max_paused:
                        self.room_wanted = True  # the watchdog stops the run paused longest
                        break
                    r._launch(self._take_spare() or self._new_worker())
                    self._last_launch = now
                else:
                    r._grant()
                holders.add(r.id)
            if self.executor == "local" and not self._stop.is_set() and self._spare is None and not self._recycled and len(holders) < self.max_running and now - self._last_launch >= self.respare_after:
                self._spare = _WorkerProcess()  # (on Ray a spare actor would hold a cluster CPU for nobody)

    def _new_worker(self) -> _WorkerProcess:
        if self.executor == "ray":
            from runs.ray_executor import RayWorker

            return RayWorker()
        return _WorkerProcess()

    def _recycle(self, worker: _WorkerProcess) -> bool:
        """Keep a worker whose run has ended for the next run (False: enough are kept already)."""
        if self.executor != "local":
            return False
        with self._recycled_lock:
            # (checked under the lock that shutdown sets it under: no worker is kept past it)
            if self._stop.is_set() or len(self._recycled) >= self.max_running:
                return False
            self._recycled.append(worker)
            return True

    def idle_worker_pids(self) -> set[int]:
        """The processes waiting for a run: the recycled workers and the spare (none trains)."""
        with self._recycled_lock:
            idle = list(self._recycled)
        spare = self._spare
        return {w.process.pid for w in idle + ([spare] if spare is not None else []) if w.process.pid is not None}

    def _idle_workers(self) -> list[_WorkerProcess]:
        """Take every worker waiting for a run (the recycled ones and the spare)."""
        with self._recycled_lock:
            idle, self._recycled = self._recycled, []
        spare, self._spare = self._spare, None
        return idle + ([spare] if spare is not None else [])

    def _take_spare(self) -> _WorkerProcess | None:
        """A worker waiting for a run, if one is still alive (one killed while idle is never
        handed on): a recycled one first, its run just ended, else the warm spare."""
        with self._recycled_lock:
            while self._recycled:
                worker = self._recycled.pop()
                if worker.usable:
                    return worker
                worker.discard()
        spare, self._spare = self._spare, None
        if spare is not None and not spare.usable:
            spare.discard()
            return None
        return spare

    def _idle_paused(self, run: TrainingRun) -> bool:
        return run.state == PAUSED and run.waiting_for is None and not run._stopping and run._process is not None and not run._holds_core()

    def _drain(self) -> None:
        """Take every run's new records and last events, as a page's poll would: a run nobody
        watches (its tab closed) still moves on, ends, frees its core and has its state stored."""
        with self._lock:
            runs = list(self._runs)
        ended = False
        for r in runs:
            with r._lock:
                was_active = r.active
                r._take_records()
                ended = ended or (was_active and not r.active)
        if ended:
            self._schedule()

    def _mark_orphans(self) -> None:
        try:
            self.store.mark_orphans_interrupted(self.server_id, socket.gethostname(), SERVER_STALE_S, _pid_alive)
        except Exception:  # noqa: BLE001 - logged; runs of a dead replica stay listed as active meanwhile
            log.exception("could not mark the runs of gone servers interrupted")

    def _keep_alive(self, now: float) -> None:
        """This server's heartbeat in the store, and the other servers' runs checked."""
        if self.store is None:
            return
        if now - self._last_heartbeat >= SERVER_HEARTBEAT_S:
            self._last_heartbeat = now
            try:
                self.store.heartbeat(self.server_id)
            except Exception:  # noqa: BLE001 - logged; the next beat tries again
                log.exception("could not store this server's heartbeat")
        if now - self._last_orphan_check >= SERVER_STALE_S / 2:
            self._last_orphan_check = now
            self._mark_orphans()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._drain()
            now = time.monotonic()
            self._keep_alive(now)
            with self._lock:
                ending = {}
                if self.stop_on_disconnect:
                    ending = {r.id: (r, "stopped: its page was closed") for r in self._runs if r.active and self._abandoned(r, now)}
                for r in self._runs:
                    if r.id not in ending and self._idle_paused(r) and now - (r._paused_since or now) >= self.pause_limit:
                        ending[r.id] = (r, f"stopped after {_duration(self.pause_limit)} paused: a paused run keeps a "
                                           "process on the server (its records and model are kept)")
                paused = [r for r in self._runs if r.id not in ending and self._idle_paused(r)]
                if self.room_wanted and paused:
                    r = min(paused, key=lambda x: x._paused_since or now)
                    ending[r.id] = (r, f"stopped after {_duration(now - (r._paused_since or now))} paused, to make room "
                                       f"for a queued run: the server keeps at most {self.max_paused} paused runs "
                                       "(its records and model are kept)")
            for r, why in ending.values():
                r.message = why
                r.stop(timeout=2.0)
            if ending:
                self._schedule()
            # Nobody is connected (or, where that is unknown, no page has run for a minute) and
            # nothing trains: let the spare worker go too, so a server nobody is using has no
            # worker process at all. While a session is connected, keep one ready (made again
            # here after a launch took it or nobody was connected), so Start trains at once.
            try:
                sessions = self.open_sessions()
            except Exception:  # noqa: BLE001 - a hint only; fall back to the idle timer
                sessions = None
            with self._lock:
                # (ended runs stay in _runs until the next tick; only an active one needs the server)
                unused = sessions == 0 or (sessions is None and now - self._last_activity > self.spare_idle_after)
                idle = not any(r.active for r in self._runs) and unused
                gone_idle = self._idle_workers() if idle else []
            for worker in gone_idle:
                worker.discard()
            if not gone_idle and sessions and self._spare is None:
                self._schedule()

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
        """Start the spare worker now (:func:`get_scheduler` does when it creates the server's)."""
        self.tick()

    def shutdown(self) -> None:
        with self._recycled_lock:  # from here on a run that ends lets its worker go
            self._stop.set()
        with self._lock:
            idle = self._idle_workers()
        for worker in idle:
            worker.discard()
        with self._lock:
            runs = list(self._runs)
        for r in runs:
            r.stop(timeout=2.0)


class SessionRegistry:
    """Which browser sessions are connected, by an id of the app's choosing (thread-safe).

    The app opens a session's id while the session is connected and releases it when the
    session disconnects; the scheduler's watchdog reads :meth:`alive` and :meth:`count`. Kept
    here, not in Streamlit, so the run manager needs no framework internals to know them."""

    FORGET_AFTER_S = 3600.0  # a released id is kept this long (its runs are long stopped), then dropped

    def __init__(self):
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self._released: dict[str, float] = {}  # id -> when it was released
        self._seen_any = False

    def open(self, session_id: str) -> None:
        """The session is connected (again: a session that reconnects reopens its id)."""
        with self._lock:
            self._seen_any = True
            self._open.add(session_id)
            self._released.pop(session_id, None)

    def release(self, session_id: str) -> None:
        """The session disconnected (its tab closed or reloaded, or its network dropped)."""
        now = time.monotonic()
        with self._lock:
            self._open.discard(session_id)
            self._released[session_id] = now
            for old in [k for k, t in self._released.items() if now - t > self.FORGET_AFTER_S]:
                del self._released[old]

    def alive(self, session_id: str) -> bool | None:
        """True while connected, False once released, None for an id never opened here."""
        with self._lock:
            if session_id in self._open:
                return True
            return False if session_id in self._released else None

    def count(self) -> int | None:
        """Connected sessions; None before any session has opened (this process may serve none)."""
        with self._lock:
            return len(self._open) if self._seen_any else None


SESSIONS = SessionRegistry()  # the server's sessions, as the app reports them
_scheduler: RunScheduler | None = None
_store: RunStore | None = None
_scheduler_lock = threading.Lock()


def get_store() -> RunStore:
    """The server's one run store: ``DATABASE_URL`` if set, else the SQLite file in
    ``$PPO_DATA_DIR`` (default ``data/``). Opened (and migrated) on first use."""
    global _store
    with _scheduler_lock:
        if _store is None:
            _store = RunStore.open(data_dir=os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
        return _store


def get_scheduler() -> RunScheduler:
    """The server's one scheduler (created on first use, shared by every session), reading the
    :data:`SESSIONS` registry and writing to :func:`get_store`. Created warm: its spare worker
    starts importing torch at once, so the first Start of the day trains within a second too."""
    global _scheduler
    store = get_store()
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = RunScheduler(store=store)
            _scheduler.open_sessions = SESSIONS.count
            _scheduler.session_alive = SESSIONS.alive
            _scheduler.warm_up()
        return _scheduler
