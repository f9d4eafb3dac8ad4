"""Live runs beside the app: how they are executed and where they are kept.

``runs.manager`` trains each run in a process of its own under one server-wide scheduler (a
queue, a core per run, a warm spare worker) and stops the runs of a browser session that ended.
``runs.store`` keeps every run, its records, classes, students and their answers in a real
database (SQLite by default, PostgreSQL when ``DATABASE_URL`` is set). No Streamlit here.
"""
