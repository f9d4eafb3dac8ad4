"""One call per lesson control: declare it, restore it from the link, draw it.

::

    eps = control(Param("clip_eps", 0.2, "float", 0.05, 0.5, step=0.01), "Clip range ε", where=c1)

is the whole declaration: the range, step and choices the widget is drawn with are the ones its
query parameter is checked against (ui.links), so the two cannot drift apart. A bad value in a
link gives the default and a note, in plain text, just above the control.

:func:`draw` alone draws a ``Param``'s widget without restoring it; the training page's
hyperparameters (views.training_controls) are drawn with it too, so every control of the app is
drawn one way.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.links import Param
from views.lesson_data import env_title
from views.links import NOTE_ICON, restore

# What each kind of Param is drawn as unless the page says otherwise.
DEFAULT_WIDGET = {"float": "slider", "int": "slider", "choice": "select", "bool": "toggle"}
WIDGETS = {
    "float": ("slider", "number"),
    "int": ("slider", "number"),
    "choice": ("select", "select_slider", "radio"),
    "bool": ("toggle",),
}


def draw(param: Param, label: str, widget: str | None = None, *, where=None, **options: Any) -> Any:
    """The widget of ``param`` in ``where`` (default: the page), keyed by ``param.key``.

    ``widget``: "slider" or "number" for a float or int; "select", "select_slider" or "radio" for
    a choice; "toggle" for a bool (default: :data:`DEFAULT_WIDGET`). The range is the Param's,
    and so is a slider's step; a number box's step (its +/- buttons, not a grid) is an option.
    ``options`` go to the Streamlit call (help=, format=, format_func=, on_change=, ...). No
    value is given: the widget takes it from ``st.session_state[param.key]``, set by ``restore``.
    Returns the widget's value, an int for an int and a float for a float.
    """
    where = st if where is None else where
    widget = widget or DEFAULT_WIDGET[param.kind]
    if widget not in WIDGETS[param.kind]:
        raise ValueError(f"Param {param.key}: a {param.kind} is drawn as one of {', '.join(WIDGETS[param.kind])}, not {widget!r}")
    if param.kind == "bool":
        return where.toggle(label, key=param.key, **options)
    if param.kind == "choice":
        call = {"select": where.selectbox, "select_slider": where.select_slider, "radio": where.radio}[widget]
        return call(label, list(param.choices), key=param.key, **options)
    # A widget's bounds and step must all be ints or all floats (Streamlit refuses a mix).
    number = int if param.kind == "int" else float
    low, high = (None if b is None else number(b) for b in (param.lo, param.hi))
    if widget == "slider":
        if param.step is not None:
            options.setdefault("step", number(param.step))
        value = where.slider(label, low, high, key=param.key, **options)
    else:
        options.setdefault("step", 1 if param.kind == "int" else None)
        value = where.number_input(label, low, high, key=param.key, **options)
    return number(value)


def control(param: Param, label: str, widget: str | None = None, *, where=None, **options: Any) -> Any:
    """Restore ``param`` from the URL, then :func:`draw` it; returns its value.

    Call it where the control goes, in page order: a Param whose default reads another control
    (``lambda: PRESETS[st.session_state["rtg_env"]].gamma``) comes after that control.
    """
    where = st if where is None else where
    for note in restore([param], show_notes=False):
        where.warning(note, icon=NOTE_ICON)
    return draw(param, label, widget, where=where, **options)


def env_and_seed(page: str, presets: list[str], env_column, seed_column, on_change=None) -> tuple[str, int]:
    """The environment and seed of a page's rollout: ``{page}_env`` (a preset, first by default)
    and ``{page}_seed`` (0 to 9999, default 0) in the URL, drawn in the two columns given.
    ``on_change`` runs when the environment changes (to reset controls that default to its preset)."""
    preset = control(
        Param(f"{page}_env", presets[0], "choice", choices=presets), "Environment", where=env_column, format_func=env_title, on_change=on_change
    )
    seed = control(Param(f"{page}_seed", 0, "int", 0, 9999), "Seed", "number", where=seed_column)
    return preset, seed
