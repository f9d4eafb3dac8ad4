""".streamlit/config.toml: the settings that make `streamlit run app.py` offline and student-proof.
(tests/test_browser_offline.py checks what they do in a browser.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ui.model_io import MAX_CHECKPOINT_BYTES

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def config() -> dict:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def test_the_app_sends_no_usage_statistics():
    assert config()["browser"]["gatherUsageStats"] is False


def test_students_get_no_developer_options_and_no_tracebacks():
    client = config()["client"]
    assert client["toolbarMode"] == "viewer"  # no Deploy, Rerun or "Clear cache"
    assert client["showErrorDetails"] == "type"  # type and a generic message; the rest in the server's log
    assert client["showErrorLinks"] is False


def test_the_server_refuses_uploads_larger_than_a_checkpoint():
    server = config()["server"]
    assert server["maxUploadSize"] == 2  # MB
    assert server["maxUploadSize"] * 2**20 == MAX_CHECKPOINT_BYTES


def test_a_classroom_server_runs_headless_without_watching_files():
    server = config()["server"]
    assert server["headless"] is True and server["fileWatcherType"] == "none"
    assert config()["runner"]["postScriptGC"] is False  # kept: see the comment in the file


def test_streamlit_knows_every_option():
    """Streamlit ignores an unknown option in config.toml with a mere warning: each one here must
    exist in the installed Streamlit (st.get_option refuses an unknown name), and showErrorDetails
    must be one of its values."""
    import streamlit as st
    from streamlit_private import show_error_details_values

    for section, values in config().items():
        for name in values:
            st.get_option(f"{section}.{name}")
    assert config()["client"]["showErrorDetails"] in show_error_details_values()
