"""The one module that reaches into Streamlit's internals, each use with the reason no public API
serves (tests/test_public_streamlit.py allows these imports here and nowhere else).

The app itself uses none: only two tests need to look at what Streamlit keeps to itself.
"""

from __future__ import annotations

import contextlib


def show_error_details_values() -> set[str]:
    """The values ``client.showErrorDetails`` accepts. Streamlit validates them nowhere public
    (``st.set_option`` stores any string and the page then falls back silently), and a typo in
    config.toml would show students full tracebacks: the test checks ours against this list."""
    from streamlit.config import ShowErrorDetailsConfigOptions

    return {o.value for o in ShowErrorDetailsConfigOptions}


@contextlib.contextmanager
def default_value_warnings():
    """Collect Streamlit's 'widget created with a default value but also had its value set via
    the Session State API' warnings while the block runs. The warning goes to a logger that does
    not propagate (so pytest's caplog never sees it), and Streamlit shows it once per process, a
    flag it keeps privately: both are patched here, and restored after."""
    from streamlit.elements.lib import policies

    logged: list[str] = []
    shown, warning = policies._shown_default_value_warning, policies._LOGGER.warning
    policies._shown_default_value_warning = False
    policies._LOGGER.warning = lambda msg, *a, **k: logged.append(msg % a)
    try:
        yield logged
    finally:
        policies._shown_default_value_warning, policies._LOGGER.warning = shown, warning
