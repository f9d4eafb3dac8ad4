"""Housekeeping of the run store from a shell: export a class to a zip, purge old classes.

    python -m runs.admin export --class K7Q-2MX --key=<teacher key> --out class.zip
    python -m runs.admin purge --older-than-days 30

Both open the server's store (``DATABASE_URL``, else the SQLite file in ``$PPO_DATA_DIR`` or
``data/``; ``--database URL`` overrides). Exporting needs the class's teacher key, as on the
board; write it ``--key=…``, since a key may begin with a dash, which argparse would otherwise
take for an option. The zip holds, per run, its metrics CSV and config JSON (built as the training page's
own export buttons build them, ui.report), the board of each assignment as PNG (ui.board's
charts, rendered offline by vl-convert) and a Markdown summary.

A module of runs/ rather than a ``python -m ppo_core`` command: ppo_core is the algorithm and
knows nothing of the store.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from runs.store import DEFAULT_DATA_DIR, ClassRow, RunStore

DATA_DIR_ENV = "PPO_DATA_DIR"  # as runs.manager reads it (not imported: it pulls in numpy and the workers)


def find_class(store: RunStore, ref: str) -> ClassRow | None:
    """The class whose id or join code (as a student types it) is ``ref``, or None."""
    return store.class_info(ref) or store.class_by_code(ref)


def _slug(text: str, limit: int = 24) -> str:
    """A file-name-safe form of a display name (ASCII letters, digits and dashes only: a name
    is typed by a student and must not become a path)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit].strip("-") or "student"


def _md(text: str) -> str:
    """Text typed by a person (a class or student name) as literal Markdown inside a line: the
    characters that open inline markup (emphasis, code, links, images, HTML, a table's cell
    border, a formula) are backslash-escaped, and a line break becomes a space."""
    return re.sub(r"([\\`*_\[\]<>|~$!])", r"\\\1", " ".join(str(text).split()))


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def class_zip(store: RunStore, class_id: str, *, scale: float = 2) -> tuple[bytes, dict[str, int]]:
    """The class's export as zip bytes, and a few counts (runs, students, assignments, files).

    ``README.md`` (the summary), ``board.png`` (or ``board-<n>.png``, one per assignment), and
    ``runs/<nn>-<student>-<run id>/metrics.csv`` and ``config.json`` for every run of the class.
    """
    from ui.board import board_data, board_spec  # (altair and pandas: imported only when exporting)
    from ui.report import config_json, metrics_csv, render_png

    info = store.class_info(class_id)
    if info is None:
        raise ValueError(f"class: no class {class_id!r} in the store")
    assignments = store.assignments_of(class_id) or [None]
    files: dict[str, bytes] = {}
    boards = []
    for n, assignment in enumerate(assignments, start=1):
        board = board_data(store, class_id, assignment_id=assignment.id if assignment else None)
        boards.append(board)
        name = "board.png" if len(assignments) == 1 else f"board-{n}.png"
        files[name] = render_png(board_spec(board), scale=scale)
    names = {s.token: s.display_name for s in store.students_of(class_id)}
    rows = list(reversed(store.runs_of(class_id=class_id)))
    folders = {}
    for i, run in enumerate(rows, start=1):
        student = names.get(run.token, "not in the class")
        folder = f"runs/{i:02d}-{_slug(student)}-{run.id}"
        folders[run.id] = folder
        files[f"{folder}/metrics.csv"] = metrics_csv(store.records(run.id), run.label or None)
        files[f"{folder}/config.json"] = config_json(run.config)

    lines = [f"# Class {_md(info.name)}", "",
             f"Join code {info.join_code}, created {info.created_at:%Y-%m-%d %H:%M} UTC"
             + (", closed" if info.closed else "") + f"; exported {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
             f"{len(names)} students, {len(rows)} runs.", ""]
    for n, board in enumerate(boards, start=1):
        a = board.assignment
        head = f"## Assignment {n}: {a.preset}" if a else "## Runs"
        lines += [head, ""]
        if a:
            varied = ", ".join(f"{k} ∈ {{{', '.join(_fmt(v) for v in vs)}}}" if isinstance(vs, list) else f"{k}: {vs}" for k, vs in a.varied.items())
            fixed = ", ".join(f"{k} = {_fmt(v)}" for k, v in a.fixed.items()) or "none"
            lines += [f"Students vary {varied or 'nothing'}; fixed: {fixed}; step budget: {_fmt(a.step_budget)}.", ""]
        counts = ", ".join(f"{k} {v}" for k, v in board.counts.items() if v)
        lines += [f"Runs: {len(board.runs)} ({counts or 'none'}).", ""]
        if len(board.medians):
            lines += [f"Median per value of {_md(board.setting_title)}:", "",
                      f"| {_md(board.setting_title)} | outcome | median | runs |", "|---|---|---|---|"]
            lines += [f"| {_md(m.value)} | {m.outcome} | {_fmt(float(m.result))} | {m.runs} |" for m in board.medians.itertuples()]
            lines += [""]
        lines += [f"| student | {_md(board.setting_title)} | status | steps to target | final return | files |", "|---|---|---|---|---|---|"]
        for r in board.runs:
            lines.append(f"| {_md(r.student)} | {_md(r.value_label)} | {r.status} | {_fmt(r.steps_to_target)} | "
                         f"{_fmt(r.final_return)} | {folders[r.id]}/ |")
        lines += [""]
    answers = boards[0].answers
    if len(answers):
        lines += ["## Predict answers", "", "| page | answer | students | right |", "|---|---|---|---|"]
        lines += [f"| {_md(a.page)} | {_md(a.answer)} | {a.students} | {'yes' if a.correct else 'no'} |" for a in answers.itertuples()]
        lines += [""]
    files["README.md"] = "\n".join(lines).encode("utf-8")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ["README.md", *sorted(n for n in files if n != "README.md")]:
            zf.writestr(name, files[name], compress_type=zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED)
    return buf.getvalue(), {"runs": len(rows), "students": len(names), "assignments": len(boards), "files": len(files)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runs.admin", description="Export or purge classes in the run store.")
    parser.add_argument("--database", metavar="URL", help="the store's database URL (default: DATABASE_URL, else the SQLite file in $PPO_DATA_DIR or data/)")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a class's runs, board and summary to a zip")
    export.add_argument("--class", dest="class_ref", required=True, metavar="ID_OR_CODE", help="the class's id or join code")
    export.add_argument("--key", required=True, help="the class's teacher key (from the teacher link); write --key=KEY, as a key may begin with '-'")
    export.add_argument("--out", required=True, type=Path, help="the zip file to write")
    purge = commands.add_parser("purge", help="delete classes created more than N days ago, with their students, answers and runs")
    purge.add_argument("--older-than-days", required=True, type=float, metavar="N", help="age in days (a number ≥ 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "purge" and not args.older_than_days >= 0:  # (also refuses NaN)
        parser.error(f"--older-than-days: must be a number ≥ 0 (got {args.older_than_days:g})")
    if args.command == "export" and args.out.suffix.lower() != ".zip":
        parser.error(f"--out: must name a .zip file (got {str(args.out)!r})")
    store = RunStore.open(args.database, data_dir=os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    try:
        if args.command == "purge":
            gone = store.purge_classes_older_than(args.older_than_days)
            print(f"purged {gone} class{'es' if gone != 1 else ''} older than {args.older_than_days:g} days from {store.url}")
            return 0
        info = find_class(store, args.class_ref)
        if info is None or not store.check_teacher_key(info.id, args.key):
            # One message for both: an export must not tell who guesses whether a class exists.
            parser.error(f"--class/--key: no class {args.class_ref!r} with this teacher key in {store.url}")
        data, counts = class_zip(store, info.id)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(data)
        print(f"wrote {args.out} ({len(data):,} bytes): {counts['runs']} runs of {counts['students']} students, "
              f"{counts['assignments']} board{'s' if counts['assignments'] != 1 else ''}")
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
