"""``python -m runs.admin``: a class exported to a zip (every run's CSV and config, the board as
PNG, a Markdown summary) only with its teacher key; classes older than N days purged; bad
arguments refused with a message naming the field."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ROOT
from pg_support import postgres_server, store_url  # noqa: F401 - fixtures, used by name
from ppo_core import PRESETS
from runs import admin
from runs.store import RunStore, classes_table
from test_board import curve
from ui.report import config_json, metrics_csv

NAMES = ["Ana", "**Bo** | <i>x</i>", "Ana"]  # the second Ana becomes "Ana (2)"


def make_class(store: RunStore, name: str = "Period 3", runs: int = 3):
    cls = store.create_class(name)
    assignment = store.create_assignment(cls.class_id, "cartpole", {"clip_coef": [0.1, 0.2, 0.3]})
    ids = []
    for i, student in enumerate(NAMES[:runs]):
        token = store.join_class(cls.join_code, student).token
        run_id = store.create_run(token, "cartpole", PRESETS["cartpole"].replace(clip_coef=0.1 * (i + 1)).to_dict(), 1,
                                  class_id=cls.class_id, assignment_id=assignment, label=f"run {i}")
        store.append_records(run_id, curve(10 + i, 50.0), 0)
        store.set_status(run_id, "finished")
        ids.append(run_id)
    return cls, ids


def test_export_writes_each_runs_csv_and_config_the_board_and_a_summary(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'ppo.sqlite3'}"
    with RunStore(url) as store:
        cls, ids = make_class(store)
        make_class(store, "Someone else's class")
        records = {run_id: store.records(run_id) for run_id in ids}
        configs = {run_id: store.run(run_id).config for run_id in ids}
    out = tmp_path / "export" / "class.zip"
    assert admin.main(["--database", url, "export", "--class", cls.join_code.lower().replace("-", ""), f"--key={cls.teacher_key}", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        folders = sorted({n.rsplit("/", 1)[0] for n in names if n.startswith("runs/")})
        assert folders == [f"runs/01-Ana-{ids[0]}", f"runs/02-Bo-i-x-i-{ids[1]}", f"runs/03-Ana-2-{ids[2]}"]
        assert sorted(names) == sorted(["README.md", "board.png"] + [f"{f}/{n}" for f in folders for n in ("metrics.csv", "config.json")])
        for folder, run_id in zip(folders, ids):
            assert zf.read(f"{folder}/metrics.csv") == metrics_csv(records[run_id], f"run {ids.index(run_id)}")
            assert zf.read(f"{folder}/config.json") == config_json(configs[run_id])
            assert "batch_ratio" not in zf.read(f"{folder}/metrics.csv").decode()
        png = zf.read("board.png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        readme = zf.read("README.md").decode()
    assert readme.startswith("# Class Period 3\n")
    assert "3 students, 3 runs." in readme
    assert r"| \*\*Bo\*\* \| \<i\>x\</i\> | 0.2 | finished |" in readme  # typed text stays literal Markdown
    assert "Someone else" not in readme
    assert "| 0.1 | steps to target (reached) | 2,560 | 1 |" in readme  # 50 × 10 = 500 ≥ 475 at update 10


def test_export_needs_the_teacher_key_and_a_zip_name(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'ppo.sqlite3'}"
    with RunStore(url) as store:
        cls, _ids = make_class(store, runs=1)
        other = store.create_class("Other")
    out = tmp_path / "class.zip"
    for ref, key in [(cls.class_id, "wrong"), (cls.join_code, other.teacher_key), ("ZZZ-ZZZ", cls.teacher_key)]:
        with pytest.raises(SystemExit) as exited:
            admin.main(["--database", url, "export", "--class", ref, f"--key={key}", "--out", str(out)])
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert f"--class/--key: no class {ref!r} with this teacher key" in error
        assert cls.teacher_key not in error
    with pytest.raises(SystemExit):
        admin.main(["--database", url, "export", "--class", cls.class_id, f"--key={cls.teacher_key}", "--out", str(tmp_path / "class.txt")])
    assert "--out: must name a .zip file" in capsys.readouterr().err
    assert not out.exists()


def _age(store: RunStore, class_id: str, days: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(classes_table.update().where(classes_table.c.id == class_id).values(
            created_at=datetime.now(timezone.utc) - timedelta(days=days)))


def test_purge_removes_only_the_classes_older_than_n_days(store_url, capsys):
    with RunStore(store_url) as store:
        old, old_runs = make_class(store, "Last term")
        new, new_runs = make_class(store, "This week")
        _age(store, old.class_id, 10)
        _age(store, new.class_id, 2)
    assert admin.main(["--database", store_url, "purge", "--older-than-days", "7"]) == 0
    assert capsys.readouterr().out.startswith("purged 1 class older than 7 days")
    with RunStore(store_url) as store:
        assert store.class_info(old.class_id) is None and store.students_of(old.class_id) == []
        assert all(store.run(r) is None and store.records(r) == [] for r in old_runs)
        assert store.class_info(new.class_id) is not None
        assert [len(store.records(r)) for r in new_runs] == [10, 11, 12]
    with pytest.raises(SystemExit):
        admin.main(["--database", store_url, "purge", "--older-than-days", "-1"])
    assert "--older-than-days: must be a number ≥ 0 (got -1)" in capsys.readouterr().err


def test_python_m_runs_admin_runs_as_a_module(tmp_path):
    url = f"sqlite:///{tmp_path / 'ppo.sqlite3'}"
    RunStore(url).close()
    done = subprocess.run([sys.executable, "-m", "runs.admin", "--database", url, "purge", "--older-than-days", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged 0 classes older than 30 days")
    done = subprocess.run([sys.executable, "-m", "runs.admin", "export", "--class", "x"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--key" in done.stderr and "--out" in done.stderr
