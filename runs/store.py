"""The run store: every run, its records, classes, students and answers, in a real database.

SQLite by default (one file, ``data/ppo.sqlite3``), PostgreSQL when ``DATABASE_URL`` is set
(``postgresql+psycopg://user@host:5432/db``; a bare ``postgresql://`` or ``postgres://`` is read
as psycopg 3). The same SQLAlchemy Core statements run on both; the only engine-specific lines
are the SQLite connection settings, the ``INSERT … ON CONFLICT DO NOTHING`` constructor (each
dialect has its own, with the same API) and PostgreSQL's migration lock.

The schema is versioned: ``schema_version`` holds one row per applied migration, and
:data:`MIGRATIONS` is the ordered list of them. Opening a store applies the missing ones in one
transaction; a database newer than this code is refused (:class:`SchemaTooNew`).

Thread safety: a store holds one Engine (its connection pool is thread-safe) and every method
takes a connection of its own for the length of one transaction, so threads may share a store.
A process of its own (a training worker) opens a store of its own on the same URL.

Tables (version 1; version 2 adds ``servers`` and ``run_servers``, see below):

- ``runs``: one row per training run: its owner's token, class and assignment (if any), preset,
  label, config (JSON), seed, status (:data:`STATUSES`) and message, timestamps (UTC), the step of
  its last record, its outcome, the final model's bytes (on request) and who executes it.
- ``records``: the trainer's metrics dict of each update, as the worker sends it (JSON, with the
  per-sample ``batch_*`` lists), numbered per run from 0 (``seq``).
- ``classes``, ``assignments``, ``students``, ``answers``: a teacher's class (join code, the
  teacher key's hash), what it asks students to train, who joined it under which name, and each
  student's first answer to each "predict" question.

No Streamlit here: the app, the workers and the tests all call this module directly.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

# A run's states. ACTIVE ones need a live executor; "interrupted" is what a server that starts
# makes of active runs that its dead predecessor left behind (mark_interrupted).
STATUSES = ("queued", "running", "paused", "finished", "stopped", "diverged", "failed", "interrupted")
ACTIVE = ("queued", "running", "paused")
STEP_KEY = "global_step"  # the record key that says how far a run got (runs.last_step)

DEFAULT_DATA_DIR = "data"
SQLITE_FILE = "ppo.sqlite3"
BUSY_TIMEOUT_MS = 30_000  # a SQLite writer waits this long for another's lock before failing
JOIN_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L or U (V): read off a projector
DISPLAY_NAME_MAX = 24
CLASS_NAME_MAX = 80
_MIGRATION_LOCK = 0x5050_4F31  # PostgreSQL advisory lock id held while migrating ("PPO1")
_WRITE = "ppo_write"  # execution option: this connection's transaction will write


class SchemaTooNew(RuntimeError):
    """The database was migrated by newer code than this: refusing to touch it."""


# -- schema ------------------------------------------------------------------------------------


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored in UTC and read back timezone-aware on both engines (SQLite keeps no
    zone: its column holds UTC and the zone is put back on reading)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = sa.MetaData()

schema_version_table = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

classes_table = sa.Table(
    "classes", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("join_code", sa.String(16), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("teacher_key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
)

assignments_table = sa.Table(
    "assignments", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("class_id", sa.String(32), sa.ForeignKey("classes.id"), nullable=False, index=True),
    sa.Column("preset", sa.Text, nullable=False),
    sa.Column("varied", sa.Text, nullable=False),  # JSON: setting -> the values students spread over
    sa.Column("fixed", sa.Text, nullable=False),  # JSON: setting -> value every student keeps
    sa.Column("step_budget", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

students_table = sa.Table(
    "students", metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("class_id", sa.String(32), sa.ForeignKey("classes.id"), nullable=True, index=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("class_id", "display_name"),
)

answers_table = sa.Table(
    "answers", metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("question", sa.String(64), primary_key=True),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("correct", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# No CHECK on status: adding a status later would then mean rebuilding the table on SQLite; the
# one place that writes a status (this module) validates it against STATUSES instead.
runs_table = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),  # the owner's personal token
    sa.Column("class_id", sa.String(32), sa.ForeignKey("classes.id"), nullable=True),
    sa.Column("assignment_id", sa.String(32), sa.ForeignKey("assignments.id"), nullable=True),
    sa.Column("preset", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("config", sa.Text, nullable=False),  # JSON: PPOConfig.to_dict()
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_step", sa.Integer, nullable=False),
    sa.Column("steps_to_target", sa.Integer, nullable=True),
    sa.Column("seconds_to_target", sa.Float, nullable=True),
    sa.Column("final_return", sa.Float, nullable=True),
    sa.Column("reached_target", sa.Boolean, nullable=False),
    sa.Column("model", sa.LargeBinary, nullable=True),  # the final state dict's bytes, on request
    sa.Column("executor", sa.Text, nullable=True),  # who trains it, e.g. "local pid 123"
    sa.Index("ix_runs_token_created", "token", "created_at"),
    sa.Index("ix_runs_class_created", "class_id", "created_at"),
    sa.Index("ix_runs_status", "status"),
)

records_table = sa.Table(
    "records", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("record", sa.Text, nullable=False),  # JSON: the trainer's metrics dict
)


# Version 2: the app servers sharing the database (replicas), and which one trains each run, so
# that a server starting up marks "interrupted" only the runs of servers that are gone. (A table
# of its own rather than a column of ``runs``: version 1's tables stay exactly as created.)
servers_table = sa.Table(
    "servers", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),  # its heartbeat (RunStore.heartbeat)
)

run_servers_table = sa.Table(
    "run_servers", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("server_id", sa.String(32), sa.ForeignKey("servers.id", ondelete="CASCADE"), nullable=False, index=True),
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history: ``apply`` runs inside the opening transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_first_tables(conn: Connection) -> None:
    # Today's Table definitions are version 1 only while no later migration changes them: the
    # first migration that alters one of these tables must freeze version 1 here (a copy of the
    # version-1 definitions), so that a fresh database replays the same history as an old one.
    tables = [classes_table, assignments_table, students_table, answers_table, runs_table, records_table]
    metadata.create_all(conn, tables=tables, checkfirst=False)


def _create_server_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[servers_table, run_servers_table], checkfirst=False)


MIGRATIONS: list[Migration] = [
    Migration(1, "runs, records, classes, assignments, students, answers", _create_first_tables),
    Migration(2, "servers, and the server that trains each run", _create_server_tables),
]


# -- rows handed out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One run as stored (without its records and model bytes; ``has_model`` says if there are)."""

    id: str
    token: str
    class_id: str | None
    assignment_id: str | None
    preset: str
    label: str
    config: dict[str, Any]
    seed: int
    status: str
    message: str
    created_at: datetime
    updated_at: datetime
    last_step: int
    steps_to_target: int | None
    seconds_to_target: float | None
    final_return: float | None
    reached_target: bool
    executor: str | None
    has_model: bool


@dataclass(frozen=True)
class ClassRow:
    """A teacher's class (the key itself is never stored: see :meth:`RunStore.check_teacher_key`)."""

    id: str
    join_code: str
    name: str
    created_at: datetime
    closed: bool


@dataclass(frozen=True)
class AssignmentRow:
    """What a class is asked to train: a preset, the settings students vary and those they keep."""

    id: str
    class_id: str
    preset: str
    varied: dict[str, Any]
    fixed: dict[str, Any]
    step_budget: int | None
    created_at: datetime


@dataclass(frozen=True)
class StudentRow:
    """A student: a personal token, the class joined (if any) and the name shown there."""

    token: str
    class_id: str | None
    display_name: str
    created_at: datetime


@dataclass(frozen=True)
class AnswerRow:
    """A student's first answer to one question."""

    token: str
    question: str
    answer: str
    correct: bool
    created_at: datetime


class NewClass(NamedTuple):
    """What :meth:`RunStore.create_class` hands the teacher, once: the key is not kept."""

    class_id: str
    join_code: str
    teacher_key: str


_RUN_COLUMNS = [c for c in runs_table.c if c.name != "model"] + [runs_table.c.model.is_not(None).label("has_model")]


def _run_row(row) -> RunRow:
    values = dict(row._mapping)
    values["config"] = json.loads(values["config"])
    values["reached_target"] = bool(values["reached_target"])
    values["has_model"] = bool(values["has_model"])
    return RunRow(**values)


def _class_row(row) -> ClassRow:
    return ClassRow(row.id, row.join_code, row.name, row.created_at, bool(row.closed))


# -- small helpers -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _dumps(value: Any) -> str:
    """Compact JSON (Python's, so NaN and ±Infinity in a diverging run's lists round-trip)."""
    return json.dumps(value, separators=(",", ":"))


def _interrupt(conn: Connection, runs: list[tuple[str, int]]) -> list[str]:
    """Mark these (run id, last step) "interrupted at step N"; returns their ids."""
    now = _now()
    for run_id, last_step in runs:
        conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
            status="interrupted", message=f"interrupted at step {last_step}", updated_at=now))
    return [run_id for run_id, _ in runs]


def _short_id() -> str:
    return uuid.uuid4().hex[:12]  # 48 random bits: no collision among a server's runs in practice


def _hash_key(key: str) -> str:
    # A random 144-bit key needs no slow password hash: its hash leaves nothing to guess.
    return hashlib.sha256(key.encode()).hexdigest()


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} (got {status!r})")


TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # what new_student_token makes


def new_student_token() -> str:
    """A fresh personal token for a student (URL-safe, 128 random bits: 22 characters)."""
    return secrets.token_urlsafe(16)


def is_student_token(text: object) -> bool:
    """Whether ``text`` has the form of a personal token (as :func:`new_student_token` makes)."""
    return isinstance(text, str) and TOKEN_PATTERN.fullmatch(text) is not None


def new_join_code() -> str:
    """A join code like ``K7Q-2MX``: six characters no one misreads off a projector."""
    chars = "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalize_join_code(code: str) -> str:
    """What a student typed, as stored: upper case, spaces and dashes dropped, ``XXX-XXX``."""
    chars = "".join(ch for ch in str(code).upper() if ch.isalnum())
    return f"{chars[:3]}-{chars[3:]}" if len(chars) == 6 else chars


def clean_display_name(name: str) -> str:
    """A display name with its spaces trimmed and runs of spaces made one; ValueError unless it
    then has 1 to :data:`DISPLAY_NAME_MAX` characters and no control characters."""
    if not isinstance(name, str):
        raise ValueError(f"display_name must be text (got {type(name).__name__})")
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX:
        raise ValueError(f"display_name must have 1 to {DISPLAY_NAME_MAX} characters after trimming spaces (got {len(cleaned)})")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise ValueError("display_name must not contain control characters")
    return cleaned


def resolve_url(url: str | None = None, data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> str:
    """The database URL a store opens: ``url``, else ``$DATABASE_URL``, else the SQLite file
    ``<data_dir>/ppo.sqlite3``. ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    url = url or os.environ.get("DATABASE_URL") or None
    if url is None:
        return f"sqlite:///{(Path(data_dir) / SQLITE_FILE).resolve()}"
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):  # SQLAlchemy would pick psycopg2, not installed
        return f"postgresql+psycopg://{rest}"
    return url


@functools.lru_cache(maxsize=64)
def _records_since_query(runs: int) -> sa.Select:
    """``(run_id = :run_i AND seq >= :seq_i) OR …`` for ``runs`` runs, built once per count: a
    class's board asks it every second, and building the expression costs more than the query."""
    wanted = sa.or_(*(sa.and_(records_table.c.run_id == sa.bindparam(f"run_{i}"), records_table.c.seq >= sa.bindparam(f"seq_{i}"))
                      for i in range(runs)))
    return (sa.select(records_table.c.run_id, records_table.c.record).where(wanted)
            .order_by(records_table.c.run_id, records_table.c.seq))


# -- the store -------------------------------------------------------------------------------------


class RunStore:
    """Runs, records, classes, students and answers in one database.

    ``RunStore(url)`` opens the database at a SQLAlchemy URL; :meth:`open` finds the URL (argument,
    ``DATABASE_URL``, or the default SQLite file). Either way the schema is brought to the latest
    version first. Unknown ids raise ValueError naming the id, except in the getters (``run``,
    ``model``, ``class_info``, ``student``), which return None.
    """

    def __init__(self, url: str):
        """Open the database at ``url`` and apply the missing migrations (see :data:`MIGRATIONS`).

        Raises ValueError for an engine other than SQLite or PostgreSQL, or an in-memory SQLite
        database (each pooled connection would get a database of its own), and
        :class:`SchemaTooNew` for a database migrated by newer code.
        """
        sa_url = sa.make_url(resolve_url(url))
        backend = sa_url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"database URL must be sqlite:///… or postgresql+psycopg://… (got {backend}://…)")
        if backend == "sqlite" and sa_url.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is not shared between connections: give a file path")
        if backend == "sqlite":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(sa_url, pool_pre_ping=backend == "postgresql")
        if backend == "sqlite":
            _configure_sqlite(self.engine)
        self._insert = sqlite.insert if backend == "sqlite" else postgresql.insert
        try:
            self.schema_version: int = self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def open(cls, url: str | None = None, data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> "RunStore":
        """The store at ``url``, else at ``$DATABASE_URL``, else in ``<data_dir>/ppo.sqlite3``
        (the folder is created if missing)."""
        return cls(resolve_url(url, data_dir))

    @property
    def url(self) -> str:
        """The database URL, its password (if any) shown as ``***``."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close the pooled connections. The store is not usable afterwards."""
        self.engine.dispose()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url!r})"

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction that commits on success; on SQLite it takes the write lock at BEGIN,
        so two writers queue (busy timeout) instead of failing when a reader turns writer."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def _migrate(self) -> int:
        migrations = list(MIGRATIONS)
        if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
            raise RuntimeError("MIGRATIONS must be numbered 1, 2, 3, … in order")
        latest = len(migrations)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                # Two servers starting at once: the second waits here, then finds the work done.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            metadata.create_all(conn, tables=[schema_version_table])
            current = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(schema_version_table.c.version), 0)))
            if current > latest:
                raise SchemaTooNew(
                    f"the database {self.url} is at schema version {current}, newer than this code knows "
                    f"({latest}): run the version of the app that upgraded it, or give this one another "
                    "database (DATABASE_URL or another data folder)"
                )
            for m in migrations[current:]:
                m.apply(conn)
                conn.execute(schema_version_table.insert().values(version=m.version, description=m.description, applied_at=_now()))
        return max(current, latest)

    def applied_migrations(self) -> list[int]:
        """The versions recorded in ``schema_version``, in order."""
        with self._read() as conn:
            return list(conn.scalars(sa.select(schema_version_table.c.version).order_by(schema_version_table.c.version)))

    # -- runs --------------------------------------------------------------------------------------
    def create_run(
        self,
        token: str,
        preset: str,
        config: dict[str, Any],
        seed: int,
        *,
        label: str = "",
        class_id: str | None = None,
        assignment_id: str | None = None,
        status: str = "queued",
        executor: str | None = None,
        run_id: str | None = None,
        server_id: str | None = None,
    ) -> str:
        """Store a new run and return its id (``run_id`` if given, else a short random one).

        ``config`` is the run's full configuration (``PPOConfig.to_dict()``), kept as JSON;
        ``server_id`` the server that trains it (:meth:`register_server`).
        """
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string (the owner's personal token)")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer (got {seed!r})")
        _check_status(status)
        run_id = run_id or _short_id()
        now = _now()
        with self._write() as conn:
            conn.execute(runs_table.insert().values(
                id=run_id, token=token, class_id=class_id, assignment_id=assignment_id, preset=preset,
                label=label, config=_dumps(config), seed=seed, status=status, message="",
                created_at=now, updated_at=now, last_step=0, reached_target=False, executor=executor,
            ))
            if server_id is not None:
                conn.execute(run_servers_table.insert().values(run_id=run_id, server_id=server_id))
        return run_id

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self._write() as conn:
            found = conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(updated_at=_now(), **values)).rowcount
            if not found:
                raise ValueError(f"no run {run_id!r} in the store")

    def set_status(self, run_id: str, status: str, message: str = "") -> None:
        """Set a run's status (one of :data:`STATUSES`) and the message shown with it."""
        _check_status(status)
        self._update_run(run_id, status=status, message=message)

    def set_executor(self, run_id: str, executor: str | None) -> None:
        """Record who trains the run (e.g. ``"local pid 123"``), or None."""
        self._update_run(run_id, executor=executor)

    def set_outcome(
        self,
        run_id: str,
        *,
        reached_target: bool,
        steps_to_target: int | None = None,
        seconds_to_target: float | None = None,
        final_return: float | None = None,
    ) -> None:
        """Record how a run ended: whether and when it reached its target, its final return."""
        self._update_run(run_id, reached_target=bool(reached_target), steps_to_target=steps_to_target,
                         seconds_to_target=seconds_to_target, final_return=final_return)

    def save_model(self, run_id: str, data: bytes) -> None:
        """Keep the run's final state dict (``torch.save`` bytes), replacing any earlier one."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"model must be bytes (got {type(data).__name__})")
        self._update_run(run_id, model=bytes(data))

    def model(self, run_id: str) -> bytes | None:
        """The run's saved model bytes, or None (no model saved, or no such run)."""
        with self._read() as conn:
            data = conn.scalar(sa.select(runs_table.c.model).where(runs_table.c.id == run_id))
        return None if data is None else bytes(data)

    def run(self, run_id: str) -> RunRow | None:
        """The run with this id, or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(*_RUN_COLUMNS).where(runs_table.c.id == run_id)).first()
        return None if row is None else _run_row(row)

    def runs_of(
        self,
        token: str | None = None,
        class_id: str | None = None,
        assignment_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        """Runs newest first, of one owner and/or class and/or assignment (all runs if none given)."""
        query = sa.select(*_RUN_COLUMNS).order_by(runs_table.c.created_at.desc(), runs_table.c.id.desc())
        for column, value in ((runs_table.c.token, token), (runs_table.c.class_id, class_id), (runs_table.c.assignment_id, assignment_id)):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_run_row(row) for row in conn.execute(query)]

    def append_records(self, run_id: str, records: list[dict[str, Any]], first_seq: int) -> None:
        """Store ``records`` as seq ``first_seq``, ``first_seq + 1``, … of the run, in one transaction.

        Idempotent: a seq already stored keeps its first record, so a retry after a failure (or a
        lost acknowledgement) neither duplicates nor fails. ``runs.last_step`` becomes the last
        record's ``global_step`` when that record is the run's latest.
        """
        if not isinstance(first_seq, int) or first_seq < 0:
            raise ValueError(f"first_seq must be an integer ≥ 0 (got {first_seq!r})")
        if not records:
            return
        rows = [{"run_id": run_id, "seq": first_seq + i, "record": _dumps(r)} for i, r in enumerate(records)]
        last_seq = first_seq + len(records) - 1
        step = records[-1].get(STEP_KEY)
        with self._write() as conn:
            if conn.scalar(sa.select(runs_table.c.id).where(runs_table.c.id == run_id)) is None:
                raise ValueError(f"no run {run_id!r} in the store")
            conn.execute(self._insert(records_table).on_conflict_do_nothing(index_elements=["run_id", "seq"]), rows)
            latest = conn.scalar(sa.select(sa.func.max(records_table.c.seq)).where(records_table.c.run_id == run_id))
            values: dict[str, Any] = {"updated_at": _now()}
            if latest == last_seq and isinstance(step, (int, float)) and not isinstance(step, bool):
                values["last_step"] = int(step)
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(**values))

    def records(self, run_id: str, since_seq: int = 0) -> list[dict[str, Any]]:
        """The run's records with seq ≥ ``since_seq``, in order (a page that has n asks since n)."""
        query = (sa.select(records_table.c.record)
                 .where(records_table.c.run_id == run_id, records_table.c.seq >= since_seq)
                 .order_by(records_table.c.seq))
        with self._read() as conn:
            return [json.loads(text) for text in conn.scalars(query)]

    def records_since(self, since: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """The records of several runs in one query: for each run id of ``since``, its records
        with seq ≥ ``since[run_id]``, in order (a run without new ones maps to ``[]``).

        For a reader that keeps what it has read (the class board): records are only ever
        appended, so each redraw parses just the new ones. A record with its ``batch_*`` lists
        is about 10 KB of JSON, and parsing a class's 1,500 of them takes about half a second.
        """
        out: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in since}
        if not since:
            return out
        for first_seq in since.values():
            if not isinstance(first_seq, int) or first_seq < 0:
                raise ValueError(f"since: each first seq must be an integer ≥ 0 (got {first_seq!r})")
        params = {}
        for i, (run_id, first_seq) in enumerate(since.items()):
            params[f"run_{i}"], params[f"seq_{i}"] = run_id, first_seq
        with self._read() as conn:
            for run_id, text in conn.execute(_records_since_query(len(since)), params):
                out[run_id].append(json.loads(text))
        return out

    def mark_interrupted(self, statuses: Iterable[str] = ACTIVE) -> list[str]:
        """Make every run in one of ``statuses`` "interrupted", with the message
        "interrupted at step N" (N: the ``global_step`` of its last record, 0 without any).

        For a server's start: the runs its dead predecessor left active have no executor any
        more. Returns their ids. (Every such run in the database: with replicas sharing one
        PostgreSQL database, only the first replica to start may call it.)
        """
        statuses = tuple(statuses)
        for status in statuses:
            _check_status(status)
        with self._write() as conn:
            left = conn.execute(sa.select(runs_table.c.id, runs_table.c.last_step).where(runs_table.c.status.in_(statuses))).all()
            return _interrupt(conn, left)

    # -- servers (replicas sharing the database) -------------------------------------------------
    def register_server(self, host: str, pid: int) -> str:
        """A server (its host name and process id) starts training runs: returns its id."""
        server_id, now = uuid.uuid4().hex, _now()
        with self._write() as conn:
            conn.execute(servers_table.insert().values(id=server_id, host=host, pid=pid, started_at=now, last_seen=now))
        return server_id

    def heartbeat(self, server_id: str) -> None:
        """The server is alive (its scheduler's watchdog says so every few seconds)."""
        with self._write() as conn:
            conn.execute(servers_table.update().where(servers_table.c.id == server_id).values(last_seen=_now()))

    def mark_orphans_interrupted(self, me: str, host: str, stale_after_s: float,
                                 pid_alive: Callable[[int], bool]) -> list[str]:
        """Make "interrupted" (as :meth:`mark_interrupted` does) the active runs that no live
        server trains: runs of no known server, of a server whose heartbeat is older than
        ``stale_after_s`` seconds, or of a server on ``host`` whose process is gone
        (``pid_alive``: a server restarted on the same machine is seen at once, not after the
        heartbeat's limit). Never the runs of ``me``, the server asking. Returns their ids."""
        stale = _now() - timedelta(seconds=stale_after_s)
        query = (sa.select(runs_table.c.id, runs_table.c.last_step, servers_table.c.id, servers_table.c.host,
                           servers_table.c.pid, servers_table.c.last_seen)
                 .select_from(runs_table.outerjoin(run_servers_table, run_servers_table.c.run_id == runs_table.c.id)
                              .outerjoin(servers_table, servers_table.c.id == run_servers_table.c.server_id))
                 .where(runs_table.c.status.in_(ACTIVE)))
        with self._write() as conn:
            orphans = [(run_id, last_step) for run_id, last_step, server, server_host, pid, last_seen in conn.execute(query)
                       if server != me and (server is None or last_seen < stale or (server_host == host and not pid_alive(pid)))]
            return _interrupt(conn, orphans)

    # -- classes -----------------------------------------------------------------------------------
    def create_class(self, name: str) -> NewClass:
        """Open a class: returns its id, a join code for the students (``K7Q-2MX``) and the
        teacher's key, which is shown once and kept only as a hash."""
        cleaned = " ".join(str(name).split())
        if not 1 <= len(cleaned) <= CLASS_NAME_MAX:
            raise ValueError(f"class name must have 1 to {CLASS_NAME_MAX} characters after trimming spaces (got {len(cleaned)})")
        key = secrets.token_hex(18)  # (hex, not URL-safe base64: a key never starts with "-", which a command line reads as an option)
        for _ in range(20):  # 30⁶ codes: a clash is rare, and a fresh code is the answer
            class_id, code = _short_id(), new_join_code()
            try:
                with self._write() as conn:
                    conn.execute(classes_table.insert().values(
                        id=class_id, join_code=code, name=cleaned, teacher_key_hash=_hash_key(key),
                        created_at=_now(), closed=False))
                return NewClass(class_id, code, key)
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("could not find a free join code")

    def class_info(self, class_id: str) -> ClassRow | None:
        """The class with this id, or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(classes_table).where(classes_table.c.id == class_id)).first()
        return None if row is None else _class_row(row)

    def class_by_code(self, join_code: str) -> ClassRow | None:
        """The class with this join code (as a student may type it: any case, dash optional), or None."""
        with self._read() as conn:
            row = conn.execute(sa.select(classes_table).where(classes_table.c.join_code == normalize_join_code(join_code))).first()
        return None if row is None else _class_row(row)

    def check_teacher_key(self, class_id: str, key: str) -> bool:
        """Whether ``key`` is the teacher key of the class (compared in constant time)."""
        with self._read() as conn:
            stored = conn.scalar(sa.select(classes_table.c.teacher_key_hash).where(classes_table.c.id == class_id))
        if stored is None or not isinstance(key, str):
            return False
        return hmac.compare_digest(stored, _hash_key(key))

    def close_class(self, class_id: str) -> None:
        """Close the class to new students (those in it stay)."""
        with self._write() as conn:
            if not conn.execute(classes_table.update().where(classes_table.c.id == class_id).values(closed=True)).rowcount:
                raise ValueError(f"no class {class_id!r} in the store")

    def create_assignment(
        self,
        class_id: str,
        preset: str,
        varied: dict[str, Any],
        fixed: dict[str, Any] | None = None,
        step_budget: int | None = None,
    ) -> str:
        """Give the class an assignment: a preset, the settings its students vary (name -> values),
        those they all keep (name -> value) and an optional step budget. Returns its id."""
        if step_budget is not None and (not isinstance(step_budget, int) or step_budget < 1):
            raise ValueError(f"step_budget must be a positive integer or None (got {step_budget!r})")
        assignment_id = _short_id()
        with self._write() as conn:
            if conn.scalar(sa.select(classes_table.c.id).where(classes_table.c.id == class_id)) is None:
                raise ValueError(f"no class {class_id!r} in the store")
            conn.execute(assignments_table.insert().values(
                id=assignment_id, class_id=class_id, preset=preset, varied=_dumps(varied), fixed=_dumps(fixed or {}),
                step_budget=step_budget, created_at=_now()))
        return assignment_id

    def assignments_of(self, class_id: str) -> list[AssignmentRow]:
        """The class's assignments, oldest first."""
        query = sa.select(assignments_table).where(assignments_table.c.class_id == class_id).order_by(assignments_table.c.created_at, assignments_table.c.id)
        with self._read() as conn:
            return [AssignmentRow(r.id, r.class_id, r.preset, json.loads(r.varied), json.loads(r.fixed), r.step_budget, r.created_at)
                    for r in conn.execute(query)]

    def join_class(self, join_code: str, display_name: str, token: str | None = None) -> StudentRow:
        """A student joins the class with this code under ``display_name``.

        The name is trimmed (1 to 24 characters) and, if a classmate already has it (in any case),
        numbered: "Ana", "Ana (2)", "Ana (3)". ``token`` is the student's personal token (a new one
        if None); a token already in this class keeps its name, one from elsewhere moves here.
        Raises ValueError for a bad name, an unknown code or a closed class.
        """
        name = clean_display_name(display_name)
        code = normalize_join_code(join_code)
        token = token or new_student_token()
        with self._write() as conn:
            # Locking the class row makes joins to one class take turns on PostgreSQL, so two
            # students cannot both take a free "Ana" (SQLite's BEGIN IMMEDIATE already does).
            cls = conn.execute(sa.select(classes_table).where(classes_table.c.join_code == code).with_for_update()).first()
            if cls is None:
                raise ValueError(f"no class has the join code {str(join_code).strip()!r}: check the code the teacher shows")
            if cls.closed:
                raise ValueError(f"the class {cls.name!r} ({cls.join_code}) is closed: ask the teacher for a new join code")
            mine = conn.execute(sa.select(students_table).where(students_table.c.token == token)).first()
            if mine is not None and mine.class_id == cls.id:
                return StudentRow(mine.token, mine.class_id, mine.display_name, mine.created_at)
            taken = {n.casefold() for n in conn.scalars(sa.select(students_table.c.display_name).where(students_table.c.class_id == cls.id))}
            chosen, k = name, 2
            while chosen.casefold() in taken:
                chosen, k = f"{name} ({k})", k + 1
            if mine is None:
                joined = _now()
                conn.execute(students_table.insert().values(token=token, class_id=cls.id, display_name=chosen, created_at=joined))
            else:
                joined = mine.created_at
                conn.execute(students_table.update().where(students_table.c.token == token).values(class_id=cls.id, display_name=chosen))
            return StudentRow(token, cls.id, chosen, joined)

    def student(self, token: str) -> StudentRow | None:
        """The student with this token, or None."""
        with self._read() as conn:
            r = conn.execute(sa.select(students_table).where(students_table.c.token == token)).first()
        return None if r is None else StudentRow(r.token, r.class_id, r.display_name, r.created_at)

    def students_of(self, class_id: str) -> list[StudentRow]:
        """The class's students in the order they joined."""
        query = sa.select(students_table).where(students_table.c.class_id == class_id).order_by(students_table.c.created_at, students_table.c.display_name)
        with self._read() as conn:
            return [StudentRow(r.token, r.class_id, r.display_name, r.created_at) for r in conn.execute(query)]

    def purge_classes_older_than(self, days: float) -> int:
        """Delete every class created more than ``days`` days ago with all that is theirs: its
        assignments, its students with their answers and runs, the runs started in it (with
        their records). Returns how many classes went."""
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days < 0:
            raise ValueError(f"days must be a number ≥ 0 (got {days!r})")
        cutoff = _now() - timedelta(days=days)
        with self._write() as conn:
            old = list(conn.scalars(sa.select(classes_table.c.id).where(classes_table.c.created_at < cutoff)))
            if not old:
                return 0
            tokens = sa.select(students_table.c.token).where(students_table.c.class_id.in_(old))
            gone_runs = sa.select(runs_table.c.id).where(sa.or_(runs_table.c.class_id.in_(old), runs_table.c.token.in_(tokens)))
            conn.execute(records_table.delete().where(records_table.c.run_id.in_(gone_runs)))
            conn.execute(runs_table.delete().where(sa.or_(runs_table.c.class_id.in_(old), runs_table.c.token.in_(tokens))))
            conn.execute(answers_table.delete().where(answers_table.c.token.in_(tokens)))
            conn.execute(students_table.delete().where(students_table.c.class_id.in_(old)))
            conn.execute(assignments_table.delete().where(assignments_table.c.class_id.in_(old)))
            conn.execute(classes_table.delete().where(classes_table.c.id.in_(old)))
        return len(old)

    # -- answers -------------------------------------------------------------------------------------
    def record_answer(self, token: str, question: str, answer: str, correct: bool) -> bool:
        """Keep a student's answer to a question, unless they answered it before (the first answer
        is the prediction; later ones come after the reveal). Returns whether this one was kept."""
        with self._write() as conn:
            kept = conn.execute(self._insert(answers_table).values(
                token=token, question=question, answer=str(answer), correct=bool(correct), created_at=_now(),
            ).on_conflict_do_nothing(index_elements=["token", "question"]).returning(answers_table.c.token)).first()
        return kept is not None

    def answers(self, token: str) -> list[AnswerRow]:
        """A student's answers, oldest first."""
        return self._answers(answers_table.c.token == token)

    def class_answers(self, class_id: str) -> list[AnswerRow]:
        """The answers of every student in the class, oldest first (for the board's tallies)."""
        return self._answers(answers_table.c.token.in_(sa.select(students_table.c.token).where(students_table.c.class_id == class_id)))

    def _answers(self, condition) -> list[AnswerRow]:
        query = sa.select(answers_table).where(condition).order_by(answers_table.c.created_at, answers_table.c.question)
        with self._read() as conn:
            return [AnswerRow(r.token, r.question, r.answer, bool(r.correct), r.created_at) for r in conn.execute(query)]


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # SQLAlchemy emits BEGIN itself (below): the sqlite3 module's own transaction handling
        # emits none before DDL or SELECT, so a migration would not be one transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # first: WAL needs the lock
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous = NORMAL")  # in WAL: safe from corruption, one fsync per checkpoint
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at once: a deferred transaction that reads and then
        # writes can fail with "database is locked" at once, whatever the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


# -- batching writer -------------------------------------------------------------------------------


class RecordWriter:
    """Buffers a run's records and writes them in batches: when ``max_records`` wait, or when
    ``max_seconds`` have passed since the last write (checked at each :meth:`add`), so a fast run
    does not write one transaction per update and a slow one writes each record at once.

    One writer per run, used from one thread. Records added after the last write wait for the
    next add, :meth:`flush` or :meth:`close`: a worker that pauses should flush. A failed write
    keeps its records, and a retry (any later flush) resends them: the store ignores seqs it has.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        first_seq: int = 0,
        *,
        max_records: int = 50,
        max_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records must be an integer ≥ 1 (got {max_records!r})")
        if max_seconds < 0:
            raise ValueError(f"max_seconds must be ≥ 0 (got {max_seconds!r})")
        self.store, self.run_id = store, run_id
        self.max_records, self.max_seconds = max_records, max_seconds
        self._clock = clock
        self._pending: list[dict[str, Any]] = []
        self._first_pending_seq = first_seq
        self._last_write = clock()

    @property
    def next_seq(self) -> int:
        """The seq the next added record will get."""
        return self._first_pending_seq + len(self._pending)

    @property
    def pending(self) -> int:
        """How many added records are not written yet."""
        return len(self._pending)

    def add(self, record: dict[str, Any]) -> None:
        """Queue one record (a shallow copy), writing the batch if it is due."""
        self._pending.append(dict(record))
        if len(self._pending) >= self.max_records or self._clock() - self._last_write >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every queued record now, in one transaction."""
        if self._pending:
            self.store.append_records(self.run_id, self._pending, self._first_pending_seq)
            self._first_pending_seq += len(self._pending)
            self._pending = []
        self._last_write = self._clock()

    def close(self) -> None:
        """Write what is queued."""
        self.flush()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
