"""Live runs beside the app: where they are kept and, later, how they are executed.

``runs.store`` keeps every run, its records, classes, students and their answers in a real
database (SQLite by default, PostgreSQL when ``DATABASE_URL`` is set). No Streamlit here.
"""
