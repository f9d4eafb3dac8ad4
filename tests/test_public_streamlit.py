"""No module of the project imports a private part of Streamlit.

Streamlit's public API is ``st.*`` (``import streamlit as st``) plus the documented packages
below; everything else under ``streamlit.`` (``streamlit.runtime``, ``streamlit.dataframe_util``,
...) is internal and changes between releases without notice. A workaround that truly needs an
internal lives in the one module named here, each use with its reason: two tests need one.
"""

import ast
import importlib.util

from conftest import ROOT

PUBLIC_PACKAGES = ("streamlit.testing.v1", "streamlit.components.v1")
WORKAROUND_MODULES = {"tests/streamlit_private.py"}  # paths relative to the root
SKIPPED_DIRS = {".venv", "venv", ".git", "node_modules", "__pycache__"}


def project_files() -> list:
    return sorted(
        p for p in ROOT.rglob("*.py")
        if not (set(p.relative_to(ROOT).parts[:-1]) & SKIPPED_DIRS or any(part.startswith(".") for part in p.relative_to(ROOT).parts[:-1]))
    )


def is_submodule(name: str) -> bool:
    """``streamlit.<name>`` is a module (so ``from streamlit import <name>`` imports an internal)."""
    try:
        return importlib.util.find_spec(f"streamlit.{name}") is not None
    except (ImportError, ValueError):
        return False


def private_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each import of a private Streamlit name in one module."""
    found = []

    def private(module: str) -> bool:
        return module.startswith("streamlit.") and not any(module == p or module.startswith(p + ".") for p in PUBLIC_PACKAGES)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if private(node.module):
                found.append((node.lineno, node.module))
            elif node.module == "streamlit":
                found += [
                    (node.lineno, f"streamlit.{a.name}") for a in node.names
                    if a.name.startswith("_") or (is_submodule(a.name) and f"streamlit.{a.name}" not in PUBLIC_PACKAGES)
                ]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "st" and node.attr.startswith("_"):
            found.append((node.lineno, f"st.{node.attr}"))
    return found


def test_the_scan_sees_every_kind_of_private_import():
    source = (
        "import streamlit as st\nfrom streamlit.runtime.scriptrunner import get_script_run_ctx\n"
        "from streamlit import dataframe_util, config\nimport streamlit.runtime\nst._main\n"
        "def f():\n    from streamlit.runtime import Runtime\n"
        "from streamlit.testing.v1 import AppTest\nfrom streamlit import session_state\n"
    )
    assert [name for _, name in private_imports(ast.parse(source))] == [
        "streamlit.runtime.scriptrunner", "streamlit.dataframe_util", "streamlit.config", "streamlit.runtime",
        "st._main", "streamlit.runtime",
    ]


def test_no_module_of_the_project_imports_a_private_streamlit_name():
    files = project_files()
    assert ROOT / "app.py" in files and ROOT / "tests" / "test_public_streamlit.py" in files
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel in WORKAROUND_MODULES or rel == "tests/test_public_streamlit.py":  # (its sample source above)
            continue
        offenders += [f"{rel}:{line} imports {name}" for line, name in private_imports(ast.parse(path.read_text(), rel))]
    assert not offenders, "private Streamlit names (use the public API):\n" + "\n".join(offenders)
