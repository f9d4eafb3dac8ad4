"""Training runs on a Ray cluster: the executor for a course that outgrows one server.

``PPO_EXECUTOR=ray`` makes the server's scheduler (runs.manager) train each run in a Ray actor
that asks the cluster for one CPU, instead of in a local process; ``RAY_ADDRESS`` names the
cluster (unset: Ray starts a local one). The local processes stay the default: a laptop or a
classroom server needs no Ray at all, and this module imports ``ray`` only when it is used.

The actor runs the very same worker loop as a local process (``runs.manager._worker``: the same
trainer, one torch thread, the same commands), so a seed gives the same curve on both. Only the
two pipes differ: here the loop's records go into a queue in the actor that the server drains
with ``take`` calls, and its commands come in through ``command`` calls, numbered because a
threaded actor may run two calls out of order. The server's reader thread stores every record
as it arrives (runs.store), exactly as for a local worker.

Queueing is Ray's: the scheduler launches a run at once, and Ray places its actor when a CPU of
the cluster is free; until then the page says "waiting for a CPU in the cluster". A run whose
actor or node dies is "interrupted", with every record that reached the store. Nothing leaks:
the scheduler kills an actor when its run ends, Ray kills the actors of a server (its driver)
that dies, and an actor nobody has asked for records for ``ORPHAN_AFTER_S`` seconds stops its
run and exits by itself.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from runs.manager import _WorkerProcess

EXECUTOR_ENV = "PPO_EXECUTOR"  # "local" (default) or "ray"
EXECUTORS = ("local", "ray")
ORPHAN_AFTER_S = 30.0  # an actor whose server stopped asking for records this long ends its run
TAKE_WAIT_S = 0.5  # how long one ``take`` call waits in the actor for a record
_CLOSE = "__close__"  # the server closed its end of the command pipe
ROOT = Path(__file__).resolve().parent.parent
# What a cluster's workers get of the project (Ray's runtime_env ``working_dir``): the code only.
_EXCLUDES = [".venv", ".git", "data", "test-output", "docs", "tests", "**/__pycache__", "*.sqlite3*"]


def executor_from_env() -> str:
    """The executor the environment asks for: ``PPO_EXECUTOR``, "local" when unset."""
    name = (os.environ.get(EXECUTOR_ENV) or "local").strip().lower()
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)} (got {name!r})")
    return name


def ensure_ray() -> None:
    """Connect this process to the cluster at ``RAY_ADDRESS`` (or start a local one), once."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the app sends no telemetry
    import ray

    if ray.is_initialized():
        return
    ray.init(
        address=os.environ.get("RAY_ADDRESS") or None,
        include_dashboard=False,
        log_to_driver=False,
        # The workers of a cluster on other machines need the project's code: Ray ships it.
        runtime_env={"working_dir": str(ROOT), "excludes": _EXCLUDES},
    )


class _ActorRecords:
    """The worker loop's records pipe, inside the actor: ``send`` queues for the server's take."""

    def __init__(self, box: "_Mailbox"):
        self._box = box

    def send(self, message: dict) -> None:
        self._box.out.put(message)


class _ActorCommands:
    """The worker loop's command pipe, inside the actor: the server's commands in their order.
    A server that closed its end, or has not asked for records for ``orphan_after`` seconds (it
    died), reads as end-of-file, which ends the run as a broken pipe would."""

    def __init__(self, box: "_Mailbox", orphan_after: float):
        self._box, self._orphan_after = box, orphan_after

    def poll(self, timeout: float) -> bool:
        box, deadline = self._box, time.monotonic() + timeout
        with box.changed:
            while box.next_seq not in box.commands:
                if time.monotonic() - box.last_take > self._orphan_after:
                    raise EOFError("the server stopped asking for records")
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                box.changed.wait(min(left, 1.0))
            return True

    def recv(self) -> Any:
        box = self._box
        with box.changed:
            while box.next_seq not in box.commands:
                box.changed.wait(1.0)
            command = box.commands.pop(box.next_seq)
            box.next_seq += 1
        if command == _CLOSE:
            raise EOFError("the server closed the command pipe")
        return command


class _Mailbox:
    def __init__(self):
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.commands: dict[int, Any] = {}  # numbered commands not read yet
        self.next_seq = 0
        self.changed = threading.Condition()
        self.last_take = time.monotonic()
        self.done = threading.Event()


class TrainingActor:
    """One run's worker in the cluster (made a Ray actor by :func:`_actor_class`)."""

    def __init__(self, orphan_after: float = ORPHAN_AFTER_S):
        self._box = _Mailbox()
        self._orphan_after = orphan_after
        threading.Thread(target=self._serve, daemon=True, name="ppo-ray-worker").start()

    def _serve(self) -> None:
        from runs.manager import _worker

        try:
            _worker(_ActorRecords(self._box), _ActorCommands(self._box, self._orphan_after))
        finally:
            self._box.done.set()
        # Orphaned (its server is gone): nobody will kill this actor, so it frees its CPU itself.
        if time.monotonic() - self._box.last_take > self._orphan_after:
            os._exit(0)

    def command(self, seq: int, command: Any) -> None:
        box = self._box
        with box.changed:
            box.commands[seq] = command
            box.changed.notify_all()

    def take(self, timeout: float = TAKE_WAIT_S) -> tuple[list[dict], bool]:
        """The records sent since the last take (waiting up to ``timeout`` for the first), and
        whether the worker loop has ended with all of them taken."""
        box = self._box
        box.last_take = time.monotonic()
        messages = []
        try:
            messages.append(box.out.get(timeout=timeout))
            while True:
                messages.append(box.out.get_nowait())
        except queue.Empty:
            pass
        return messages, box.done.is_set() and box.out.empty()

    def where(self) -> tuple[int, str]:
        """The actor's process id and node id (for the run's row in the store)."""
        import ray

        return os.getpid(), ray.get_runtime_context().get_node_id()


_remote_class = None


def _actor_class():
    """TrainingActor as a Ray actor class: one CPU; a few threads, so ``take`` (which waits)
    and ``command`` run side by side; never restarted (a restarted actor would retrain from
    scratch behind the page's back: the run is interrupted instead)."""
    global _remote_class
    if _remote_class is None:
        import ray

        _remote_class = ray.remote(num_cpus=1, max_concurrency=4, max_restarts=0)(TrainingActor)
    return _remote_class


class _RayCommandPipe:
    """The server's end of the command pipe: each command a numbered ``command`` call."""

    def __init__(self, actor):
        self._actor, self._seq = actor, 0
        self._lock = threading.Lock()
        self.closed = False

    def send(self, command: Any) -> None:
        with self._lock:
            if self.closed:
                raise OSError("the command pipe is closed")
            self._actor.command.remote(self._seq, command)
            self._seq += 1

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                try:
                    self._actor.command.remote(self._seq, _CLOSE)
                except Exception:  # noqa: BLE001 - the actor is gone already: nothing to close
                    pass


class _RayRecordPipe:
    """The server's end of the records pipe: ``recv`` returns the actor's records one by one,
    and raises EOFError once the worker loop has ended (or the actor died: ``lost`` says why)."""

    def __init__(self, actor, placed: threading.Event):
        self._actor, self._placed = actor, placed
        self._buffer: list[dict] = []
        self._ended = False
        self.lost = ""

    def recv(self) -> dict:
        import ray

        while not self._buffer:
            if self._ended:
                raise EOFError
            try:
                messages, self._ended = ray.get(self._actor.take.remote(TAKE_WAIT_S))
            except ray.exceptions.RayError as exc:  # the actor, its worker or its node died
                self.lost = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
                raise EOFError from exc
            self._placed.set()
            self._buffer.extend(messages)
        return self._buffer.pop(0)

    def close(self) -> None:
        """(Nothing to close: the actor is killed by :class:`_RayProcess`.)"""


class _RayProcess:
    """The part of a ``multiprocessing.Process`` that the run manager uses, for an actor."""

    pid = None  # no process on this server

    def __init__(self, actor, worker: "RayWorker"):
        self._actor, self._worker = actor, worker
        self._killed = False
        self.exitcode: int | None = None

    def is_alive(self) -> bool:
        return not (self._killed or self._worker.gone.is_set())

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker loop to end; then the actor is of no more use: it is killed, so
        its CPU goes back to the cluster."""
        if self._worker.gone.wait(timeout):
            self.kill()
            if self.exitcode is None:
                self.exitcode = 0

    def terminate(self) -> None:
        self.kill()

    def kill(self) -> None:
        import ray

        if not self._killed:
            self._killed = True
            try:
                ray.kill(self._actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead, or the cluster is gone: nothing to free
                pass


class RayWorker(_WorkerProcess):
    """A run manager worker whose loop runs in a new Ray actor, created at once; Ray places it
    when a CPU of the cluster is free (``placed`` is set once it has answered)."""

    lost_state = "interrupted"

    def __init__(self, orphan_after: float = ORPHAN_AFTER_S):
        ensure_ray()
        self.actor = _actor_class().remote(orphan_after)
        self.placed = threading.Event()
        self._records = _RayRecordPipe(self.actor, self.placed)
        self.process = _RayProcess(self.actor, self)
        self._attach(_RayCommandPipe(self.actor), self._records)

    def describe(self) -> str:
        return f"ray actor {self.actor._actor_id.hex()[:12]}"

    def lost_message(self, exitcode: int | None) -> str:
        why = self._records.lost or "the actor ended without its last record"
        return f"interrupted: its Ray worker or node died ({why})"
