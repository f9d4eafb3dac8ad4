"""The layers keep their rooms: ppo_core (the algorithm), ui (pure chart builders, report,
comparisons, link parameters, checkpoints) and runs (run manager and store) work without
Streamlit; only app.py, lessons/ and views/ draw. Checked in a fresh interpreter, so that an
import made by another test cannot hide one made here."""

import subprocess
import sys

from conftest import ROOT

PURE_PACKAGES = ("ppo_core", "ui", "runs")


def test_ppo_core_ui_and_runs_import_no_streamlit_even_indirectly():
    code = (
        "import importlib, pkgutil, sys\n"
        f"for package in {PURE_PACKAGES!r}:\n"
        "    pkg = importlib.import_module(package)\n"
        "    for info in pkgutil.iter_modules(pkg.__path__):\n"
        "        if info.name != '__main__':  # that one runs the CLI\n"
        "            importlib.import_module(f'{package}.{info.name}')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in " + repr(PURE_PACKAGES) + ")\n"
        "print(len(loaded), 'streamlit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, streamlit_loaded = out.stdout.split()
    assert int(count) >= 15  # every module of the three packages was imported
    assert streamlit_loaded == "False"
