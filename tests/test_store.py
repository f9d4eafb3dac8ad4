"""The run store (runs.store) on SQLite and on a real PostgreSQL server: every test that takes
``store`` or ``store_url`` runs on both engines."""

from __future__ import annotations

import hashlib
import queue
import random
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from pg_support import postgres_server, store_url  # noqa: F401 - fixtures, used by name
from runs import store as store_module
from runs.store import (
    ACTIVE,
    JOIN_CODE_ALPHABET,
    STATUSES,
    Migration,
    RecordWriter,
    RunStore,
    SchemaTooNew,
    classes_table,
    records_table,
    resolve_url,
    schema_version_table,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(store_url):
    with RunStore(store_url) as opened:
        yield opened


def make_record(run: int, i: int, batch: int = 20) -> dict:
    """Update ``i`` of run ``run``, shaped like the worker's: metrics plus batch_* lists."""
    rng = random.Random(run * 100_003 + i)
    return {
        "update": i + 1,
        "global_step": 128 * (i + 1),
        "episode_return_mean": None if i == 0 else rng.uniform(9, 500),
        "policy_loss": rng.uniform(-0.1, 0.1),
        "approx_kl": rng.uniform(0, 0.03),
        "batch_ratio": [rng.uniform(0.7, 1.3) for _ in range(batch)],
        "batch_advantage": [rng.gauss(0, 1) for _ in range(batch)],
    }


def new_run(store, token="student-1", status="queued", **kw) -> str:
    return store.create_run(token, "cartpole", {"env_id": "CartPole-v1", "learning_rate": 3e-4}, 1, status=status, **kw)


# -- concurrency and crashes --------------------------------------------------------------------


def test_thirty_concurrent_runs_keep_every_record_once_and_in_order(store):
    ids = [new_run(store, token=f"student-{k}", status="running") for k in range(30)]
    start = threading.Barrier(30)

    def train(k: int) -> None:
        start.wait(timeout=120)  # all thirty write at once
        with RecordWriter(store, ids[k], max_records=8, max_seconds=0.05) as writer:
            for i in range(50):
                writer.add(make_record(k, i))

    with ThreadPoolExecutor(max_workers=30) as pool:
        for done in [pool.submit(train, k) for k in range(30)]:
            done.result(timeout=600)  # re-raises a writer's error

    for k, run_id in enumerate(ids):
        assert store.records(run_id) == [make_record(k, i) for i in range(50)]
        assert store.run(run_id).last_step == 128 * 50
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(records_table)) == 30 * 50


# The writer that gets killed: two batches of 10 commit, then the third stops inside its
# transaction (after its INSERT, before COMMIT), says so, and waits to be killed.
KILLED_WRITER = r"""
import sys, time
import sqlalchemy as sa
sys.path.insert(0, "tests")
from runs.store import RunStore, RecordWriter
from test_store import make_record

store = RunStore(sys.argv[1])
writer = RecordWriter(store, sys.argv[2], max_records=10, max_seconds=3600)
for i in range(20):
    writer.add(make_record(7, i))

def stop_inside(conn, cursor, statement, *args):
    if statement.lstrip().upper().startswith("INSERT INTO RECORDS"):
        print("inside the transaction", flush=True)
        time.sleep(600)

sa.event.listen(store.engine, "after_cursor_execute", stop_inside)
for i in range(20, 30):
    writer.add(make_record(7, i))
"""


def _first_line(proc: subprocess.Popen, timeout: float) -> str | None:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        return None


def test_a_writer_killed_inside_a_transaction_leaves_the_committed_records(store_url):
    with RunStore(store_url) as store:
        run_id = new_run(store, status="running")
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, store_url, run_id], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = _first_line(proc, timeout=300)
            assert line == "inside the transaction", proc.stderr.read() if proc.poll() is not None else line
            assert len(store.records(run_id)) == 20  # the open transaction's rows are not visible
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

    with RunStore(store_url) as reopened:  # a new server after the crash
        if reopened.engine.dialect.name == "sqlite":
            with reopened.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert reopened.records(run_id) == [make_record(7, i) for i in range(20)]
        assert reopened.run(run_id).status == "running"
        assert reopened.mark_interrupted() == [run_id]
        row = reopened.run(run_id)
        assert (row.status, row.message) == ("interrupted", f"interrupted at step {128 * 20}")
        # the seqs the dead transaction held are free again
        reopened.append_records(run_id, [make_record(7, i) for i in range(20, 30)], 20)
        assert reopened.records(run_id) == [make_record(7, i) for i in range(30)]


def test_mark_interrupted_takes_only_active_runs_and_the_last_step(store):
    ids = {status: new_run(store, status=status) for status in STATUSES if status != "interrupted"}
    store.append_records(ids["running"], [make_record(1, 0), make_record(1, 1), make_record(1, 2)], 0)
    store.append_records(ids["paused"], [make_record(2, 0)], 0)

    assert sorted(store.mark_interrupted()) == sorted(ids[s] for s in ACTIVE)
    assert store.run(ids["running"]).message == "interrupted at step 384"
    assert store.run(ids["paused"]).message == "interrupted at step 128"
    assert store.run(ids["queued"]).message == "interrupted at step 0"
    for status in ("finished", "stopped", "diverged", "failed"):
        assert store.run(ids[status]).status == status
    assert store.mark_interrupted() == []
    with pytest.raises(ValueError, match="status must be one of"):
        store.mark_interrupted(statuses=("done",))


# -- schema versions ------------------------------------------------------------------------------


def test_a_fresh_store_is_at_the_latest_version(store_url):
    latest = len(store_module.MIGRATIONS)
    with RunStore(store_url) as store:
        assert store.schema_version == latest
        assert store.applied_migrations() == list(range(1, latest + 1))
        assert {"runs", "records", "classes", "assignments", "students", "answers", "schema_version"} <= set(sa.inspect(store.engine).get_table_names())
    with RunStore(store_url) as again:  # opening again applies nothing twice
        assert again.applied_migrations() == list(range(1, latest + 1))


def _add_note_column(conn):
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN note TEXT"))


def test_a_store_at_version_1_upgrades_to_every_later_migration(store_url, monkeypatch):
    real = list(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", real[:1])
    with RunStore(store_url) as old:
        run_id = new_run(old, label="before the upgrade")
        old.append_records(run_id, [make_record(3, 0)], 0)
        assert old.applied_migrations() == [1]
        assert "servers" not in sa.inspect(old.engine).get_table_names()

    latest = len(real) + 1
    monkeypatch.setattr(store_module, "MIGRATIONS", [*real, Migration(latest, "runs.note", _add_note_column)])
    with RunStore(store_url) as upgraded:
        assert upgraded.schema_version == latest
        assert upgraded.applied_migrations() == list(range(1, latest + 1))
        assert {"servers", "run_servers"} <= set(sa.inspect(upgraded.engine).get_table_names())  # version 2
        assert "note" in {c["name"] for c in sa.inspect(upgraded.engine).get_columns("runs")}
        assert upgraded.run(run_id).label == "before the upgrade"
        assert upgraded.records(run_id) == [make_record(3, 0)]


def test_a_failing_migration_changes_nothing(store_url, monkeypatch):
    RunStore(store_url).close()
    current = len(store_module.MIGRATIONS)

    def half_done(conn):
        conn.execute(sa.text("CREATE TABLE half_done (x INTEGER)"))
        _add_note_column(conn)
        raise RuntimeError("the new migration broke")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, Migration(current + 1, "broken", half_done)])
    with pytest.raises(RuntimeError, match="the new migration broke"):
        RunStore(store_url)
    monkeypatch.undo()
    with RunStore(store_url) as store:  # the DDL before the failure was rolled back with it
        assert store.applied_migrations() == list(range(1, current + 1))
        assert "half_done" not in sa.inspect(store.engine).get_table_names()
        assert "note" not in {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}


def test_a_store_newer_than_the_code_is_refused(store_url):
    with RunStore(store_url) as store, store.engine.begin() as conn:
        conn.execute(schema_version_table.insert().values(version=5, description="from the future", applied_at=datetime.now(timezone.utc)))
    latest = len(store_module.MIGRATIONS)
    with pytest.raises(SchemaTooNew, match=re.escape(f"is at schema version 5, newer than this code knows ({latest})")):
        RunStore(store_url)


# -- runs and records -------------------------------------------------------------------------------


def test_append_is_idempotent_and_the_first_write_of_a_seq_wins(store):
    run_id = new_run(store)
    first = [make_record(1, i) for i in range(5)]
    store.append_records(run_id, first, 0)
    store.append_records(run_id, first, 0)  # a retry of the same batch
    overlapping = [make_record(2, i) for i in range(3, 8)]  # seq 3..7, 3 and 4 already there
    store.append_records(run_id, overlapping, 3)

    assert store.records(run_id) == first + overlapping[2:]
    assert store.records(run_id, since_seq=6) == overlapping[3:]
    assert store.run(run_id).last_step == 128 * 8
    store.append_records(run_id, first, 0)  # a late retry does not move last_step back
    assert store.run(run_id).last_step == 128 * 8
    with pytest.raises(ValueError, match="no run 'nope' in the store"):
        store.append_records("nope", first, 0)
    with pytest.raises(ValueError, match="first_seq must be an integer ≥ 0"):
        store.append_records(run_id, first, -1)


def test_status_is_validated(store):
    run_id = new_run(store)
    with pytest.raises(ValueError, match=re.escape(f"status must be one of {', '.join(STATUSES)} (got 'done')")):
        store.set_status(run_id, "done")
    assert store.run(run_id).status == "queued"
    with pytest.raises(ValueError, match="got 'bogus'"):
        new_run(store, token="other", status="bogus")
    assert store.runs_of(token="other") == []
    store.set_status(run_id, "failed", "ValueError: boom")
    assert (store.run(run_id).status, store.run(run_id).message) == ("failed", "ValueError: boom")
    with pytest.raises(ValueError, match="no run 'nope' in the store"):
        store.set_status("nope", "running")


def test_runs_round_trip_newest_first_with_outcome_and_model(store):
    config = {"env_id": "CartPole-v1", "learning_rate": 0.00025, "clip_eps": 0.2, "hidden": [64, 64]}
    a = store.create_run("tok-a", "cartpole", config, 3, label="ε 0.2", executor="local pid 123")
    b = store.create_run("tok-b", "acrobot", {}, 1)
    c = store.create_run("tok-a", "pendulum", {}, 2, run_id="my-own-id")
    assert c == "my-own-id"

    row = store.run(a)
    assert (row.token, row.preset, row.label, row.config, row.seed, row.status, row.executor) == (
        "tok-a", "cartpole", "ε 0.2", config, 3, "queued", "local pid 123")
    assert (row.class_id, row.assignment_id, row.last_step, row.reached_target, row.has_model) == (None, None, 0, False, False)
    assert row.created_at.utcoffset() == timedelta(0) and abs(datetime.now(timezone.utc) - row.created_at) < timedelta(hours=1)
    assert store.run("nope") is None
    assert [r.id for r in store.runs_of(token="tok-a")] == [c, a]
    assert [r.id for r in store.runs_of()] == [c, b, a]
    assert [r.id for r in store.runs_of(limit=1)] == [c]

    store.set_outcome(a, reached_target=True, steps_to_target=20480, seconds_to_target=31.5, final_return=481.25)
    row = store.run(a)
    assert (row.reached_target, row.steps_to_target, row.seconds_to_target, row.final_return) == (True, 20480, 31.5, 481.25)
    model = random.Random(0).randbytes(120_000)
    store.save_model(a, model)
    assert store.model(a) == model and store.run(a).has_model
    assert store.model(b) is None and not store.run(b).has_model
    with pytest.raises(ValueError, match="model must be bytes"):
        store.save_model(a, "not bytes")


def test_record_writer_writes_in_batches_by_count_and_by_time(store):
    run_id = new_run(store)
    inserts = []
    sa.event.listen(store.engine, "after_cursor_execute",
                    lambda conn, cursor, statement, *a: inserts.append(1) if statement.startswith("INSERT INTO records") else None)
    now = [0.0]
    writer = RecordWriter(store, run_id, max_records=4, max_seconds=0.5, clock=lambda: now[0])
    for i in range(3):
        writer.add(make_record(1, i))
    assert (store.records(run_id), writer.pending) == ([], 3)
    writer.add(make_record(1, 3))  # the fourth: a batch is full
    assert (len(store.records(run_id)), writer.pending) == (4, 0)
    writer.add(make_record(1, 4))
    assert len(store.records(run_id)) == 4  # no time has passed since the last write
    now[0] = 0.6
    writer.add(make_record(1, 5))  # 0.6 s since the last write
    assert len(store.records(run_id)) == 6
    writer.add(make_record(1, 6))
    writer.close()
    assert store.records(run_id) == [make_record(1, i) for i in range(7)]
    assert (writer.next_seq, len(inserts)) == (7, 3)


def test_record_writer_keeps_a_failed_batch_and_resends_it(store, monkeypatch):
    run_id = new_run(store)
    writer = RecordWriter(store, run_id, max_records=3)
    real_append, calls = store.append_records, []

    def flaky(*args):
        calls.append(args)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection lost"))
        return real_append(*args)

    monkeypatch.setattr(store, "append_records", flaky)
    writer.add(make_record(1, 0))
    writer.add(make_record(1, 1))
    with pytest.raises(sa.exc.OperationalError):
        writer.add(make_record(1, 2))
    assert writer.pending == 3
    writer.add(make_record(1, 3))
    assert store.records(run_id) == [make_record(1, i) for i in range(4)]


# -- classes, students, answers --------------------------------------------------------------------------


def test_join_codes_are_unambiguous_and_teacher_keys_kept_only_as_hashes(store):
    made = [store.create_class(f"PPO group {k}") for k in range(20)]
    code = f"[{JOIN_CODE_ALPHABET}]{{3}}"
    assert all(re.fullmatch(f"{code}-{code}", m.join_code) for m in made)
    assert not set("01ILOU") & set(JOIN_CODE_ALPHABET)
    assert len({m.join_code for m in made}) == 20
    first = made[0]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(classes_table).where(classes_table.c.id == first.class_id)).one()
    assert row.teacher_key_hash == hashlib.sha256(first.teacher_key.encode()).hexdigest()
    assert all(first.teacher_key not in str(value) for value in row)
    assert store.check_teacher_key(first.class_id, first.teacher_key)
    assert not store.check_teacher_key(first.class_id, first.teacher_key + "x")
    assert not store.check_teacher_key(made[1].class_id, first.teacher_key)
    assert not store.check_teacher_key("nope", first.teacher_key)
    typed = first.join_code.lower().replace("-", " ")  # as a student might type it
    assert store.class_by_code(typed).id == first.class_id
    assert store.class_info(first.class_id).name == "PPO group 0"
    with pytest.raises(ValueError, match="class name must have 1 to 80 characters"):
        store.create_class("   ")


def test_display_names_are_trimmed_checked_and_numbered(store):
    monday = store.create_class("Monday")
    ana = store.join_class(monday.join_code, "  Ana  ")
    assert (ana.display_name, ana.class_id) == ("Ana", monday.class_id)
    assert store.join_class(monday.join_code.lower(), "Ana").display_name == "Ana (2)"
    assert store.join_class(monday.join_code, "ana").display_name == "ana (3)"
    assert store.join_class(monday.join_code, "Bo   Li").display_name == "Bo Li"
    assert store.join_class(monday.join_code, "x" * 24).display_name == "x" * 24
    with pytest.raises(ValueError, match=re.escape("display_name must have 1 to 24 characters after trimming spaces (got 25)")):
        store.join_class(monday.join_code, "y" * 25)
    with pytest.raises(ValueError, match=re.escape("(got 0)")):
        store.join_class(monday.join_code, "   ")
    with pytest.raises(ValueError, match="control characters"):
        store.join_class(monday.join_code, "Ana\x00")
    assert store.join_class(monday.join_code, "Someone else", token=ana.token) == ana  # a rejoin keeps the name
    assert [s.display_name for s in store.students_of(monday.class_id)] == ["Ana", "Ana (2)", "ana (3)", "Bo Li", "x" * 24]

    tuesday = store.create_class("Tuesday")
    moved = store.join_class(tuesday.join_code, "Ana", token=ana.token)
    assert (moved.class_id, moved.display_name) == (tuesday.class_id, "Ana")
    assert store.student(ana.token).class_id == tuesday.class_id
    assert len(store.students_of(monday.class_id)) == 4


def test_unknown_and_closed_classes_are_refused(store):
    with pytest.raises(ValueError, match="no class has the join code 'QQQ-QQ': check the code"):
        store.join_class("QQQ-QQ", "Ana")
    friday = store.create_class("Friday")
    store.close_class(friday.class_id)
    assert store.class_info(friday.class_id).closed
    with pytest.raises(ValueError, match=re.escape(f"the class 'Friday' ({friday.join_code}) is closed")):
        store.join_class(friday.join_code, "Ana")
    assert store.students_of(friday.class_id) == []
    with pytest.raises(ValueError, match="no class 'nope'"):
        store.close_class("nope")


def test_students_joining_at_once_get_distinct_names(store):
    cls = store.create_class("Big lecture")
    with ThreadPoolExecutor(max_workers=10) as pool:
        names = [f.result(timeout=300).display_name for f in [pool.submit(store.join_class, cls.join_code, "Ana") for _ in range(10)]]
    assert sorted(names) == sorted(["Ana"] + [f"Ana ({k})" for k in range(2, 11)])


def test_assignments(store):
    cls = store.create_class("Monday")
    first = store.create_assignment(cls.class_id, "cartpole", {"clip_eps": [0.1, 0.2, 0.3]}, {"seed": 1}, step_budget=50_000)
    second = store.create_assignment(cls.class_id, "acrobot", {"gae_lambda": [0.9, 0.95]})
    got = store.assignments_of(cls.class_id)
    assert [(a.id, a.preset, a.varied, a.fixed, a.step_budget) for a in got] == [
        (first, "cartpole", {"clip_eps": [0.1, 0.2, 0.3]}, {"seed": 1}, 50_000),
        (second, "acrobot", {"gae_lambda": [0.9, 0.95]}, {}, None),
    ]
    with pytest.raises(ValueError, match="no class 'nope'"):
        store.create_assignment("nope", "cartpole", {})
    with pytest.raises(ValueError, match="step_budget must be a positive integer"):
        store.create_assignment(cls.class_id, "cartpole", {}, step_budget=0)


def test_the_first_answer_is_kept(store):
    cls = store.create_class("Monday")
    ana, bo = store.join_class(cls.join_code, "Ana"), store.join_class(cls.join_code, "Bo")
    assert store.record_answer(ana.token, "clip-a-negative", "flat below 1-ε", True) is True
    assert store.record_answer(ana.token, "clip-a-negative", "flat above 1+ε", False) is False
    assert store.record_answer(ana.token, "gae-lambda-0", "one-step TD", True) is True
    assert store.record_answer(bo.token, "clip-a-negative", "flat above 1+ε", False) is True
    assert [(a.question, a.answer, a.correct) for a in store.answers(ana.token)] == [
        ("clip-a-negative", "flat below 1-ε", True), ("gae-lambda-0", "one-step TD", True)]
    assert sorted((a.token, a.question, a.correct) for a in store.class_answers(cls.class_id)) == sorted([
        (ana.token, "clip-a-negative", True), (ana.token, "gae-lambda-0", True), (bo.token, "clip-a-negative", False)])
    assert store.answers("nobody") == []


def test_purge_removes_old_classes_and_everything_of_theirs(store):
    old, new = store.create_class("Last term"), store.create_class("This week")
    s_old, s_new = store.join_class(old.join_code, "Ana"), store.join_class(new.join_code, "Ana")
    a_old = store.create_assignment(old.class_id, "cartpole", {"clip_eps": [0.1, 0.3]})
    r_old = new_run(store, token=s_old.token, class_id=old.class_id, assignment_id=a_old)
    r_old_own = new_run(store, token=s_old.token)  # the same student's run outside the class
    r_new = new_run(store, token=s_new.token, class_id=new.class_id)
    for run_id in (r_old, r_old_own, r_new):
        store.append_records(run_id, [make_record(1, 0), make_record(1, 1)], 0)
    store.record_answer(s_old.token, "q1", "a", True)
    store.record_answer(s_new.token, "q1", "b", False)
    with store.engine.begin() as conn:
        conn.execute(classes_table.update().where(classes_table.c.id == old.class_id)
                     .values(created_at=datetime.now(timezone.utc) - timedelta(days=31)))

    assert store.purge_classes_older_than(30) == 1
    assert store.class_info(old.class_id) is None and store.class_by_code(old.join_code) is None
    assert store.student(s_old.token) is None and store.answers(s_old.token) == []
    assert store.assignments_of(old.class_id) == []
    assert store.run(r_old) is None and store.run(r_old_own) is None
    with store.engine.connect() as conn:
        assert set(conn.scalars(sa.select(records_table.c.run_id).distinct())) == {r_new}
    assert store.class_info(new.class_id).name == "This week"
    assert store.student(s_new.token).display_name == "Ana"
    assert [a.answer for a in store.answers(s_new.token)] == ["b"]
    assert len(store.records(r_new)) == 2
    assert store.purge_classes_older_than(30) == 0
    with pytest.raises(ValueError, match=re.escape("days must be a number ≥ 0 (got -1)")):
        store.purge_classes_older_than(-1)


# -- opening ----------------------------------------------------------------------------------------------


def test_the_default_store_is_a_sqlite_file_with_wal_foreign_keys_and_a_busy_timeout(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with RunStore.open(data_dir=tmp_path / "data") as store:
        path = (tmp_path / "data" / "ppo.sqlite3").resolve()
        assert path.exists() and store.url == f"sqlite:///{path}"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == store_module.BUSY_TIMEOUT_MS
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"), store.engine.begin() as conn:
            conn.execute(records_table.insert().values(run_id="no-such-run", seq=0, record="{}"))


def test_urls(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://ann:pw@db.example:5432/ppo")
    assert resolve_url() == "postgresql+psycopg://ann:pw@db.example:5432/ppo"
    assert resolve_url(f"sqlite:///{tmp_path}/x.db") == f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(ValueError, match=re.escape("database URL must be sqlite:///… or postgresql+psycopg://… (got mysql://…)")):
        RunStore("mysql://ann@db.example/ppo")
    with pytest.raises(ValueError, match="in-memory SQLite"):
        RunStore("sqlite://")


def test_database_url_opens_postgresql_and_the_password_stays_hidden(postgres_server, monkeypatch):  # noqa: F811
    with postgres_server.database() as url:
        # trust authentication accepts any password: enough to see that the URL hides it
        monkeypatch.setenv("DATABASE_URL", url.replace("postgresql+psycopg://", "postgresql://").replace("@", ":s3cret@", 1))
        with RunStore.open(data_dir=Path("/nonexistent")) as store:
            assert store.engine.dialect.name == "postgresql"
            assert "s3cret" not in store.url and "s3cret" not in repr(store)
            assert store.url.startswith("postgresql+psycopg://") and ":***@" in store.url
            assert store.schema_version == len(store_module.MIGRATIONS)


# -- servers (replicas) ---------------------------------------------------------------------------


def test_a_starting_server_interrupts_only_the_runs_no_live_server_trains(store_url):
    """Replicas share the store: a run is an orphan when its server is silent past the limit,
    or is a dead process on this very host, or is unknown; a live replica's runs are kept."""
    with RunStore(store_url) as store:
        dead_pids = {999_001}
        me = store.register_server("host-a", 100)
        live_here = store.register_server("host-a", 101)  # another replica on this machine
        dead_here = store.register_server("host-a", 999_001)  # its process is gone
        live_there = store.register_server("host-b", 999_001)  # (the same pid on another host says nothing)
        silent_there = store.register_server("host-b", 300)
        runs = {name: store.create_run("T" * 22, "cartpole", {"seed": 1}, 1, status="running", server_id=server)
                for name, server in [("me", me), ("live_here", live_here), ("dead_here", dead_here),
                                     ("live_there", live_there), ("silent_there", silent_there), ("unknown", None)]}
        finished = store.create_run("T" * 22, "cartpole", {"seed": 1}, 1, status="finished", server_id=dead_here)
        with store._write() as conn:  # silent_there last beat 31 s ago
            conn.execute(store_module.servers_table.update().where(store_module.servers_table.c.id == silent_there)
                         .values(last_seen=store_module._now() - timedelta(seconds=31)))
        store.heartbeat(live_there)
        gone = store.mark_orphans_interrupted(me, "host-a", 30.0, lambda pid: pid not in dead_pids)
        assert sorted(gone) == sorted(runs[n] for n in ("dead_here", "silent_there", "unknown"))
        for name in ("me", "live_here", "live_there"):
            assert store.run(runs[name]).status == "running"
        assert store.run(runs["dead_here"]).message == "interrupted at step 0"
        assert store.run(finished).status == "finished"
        assert store.mark_orphans_interrupted(me, "host-a", 30.0, lambda pid: pid not in dead_pids) == []
