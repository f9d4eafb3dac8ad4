"""One call per lesson control: declare it, restore it from the URL, draw it.

``slider("Clip range ε", 0.05, 0.5, key="clip_eps", default=0.2, step=0.01, where=c1)`` is the
whole declaration: the range and step the widget uses are the ones its query parameter is
checked against (ui.links), so the two cannot drift apart. A bad value in a link gives the
default and a note under the control that names the parameter and what it accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from ui.links import Param, restore

NOTE_ICON = ":material/link_off:"


def _restore(param: Param, where) -> None:
    for note in restore([param], show_notes=False):
        where.warning(note, icon=NOTE_ICON)


def _is_int(*numbers: Any) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) for n in numbers if n is not None)


def slider(label: str, low: float, high: float, *, key: str, default: Any, step: float | None = None,
           where=None, name: str | None = None, **widget: Any) -> Any:
    """``st.slider`` whose value lives in the URL as ``name`` (default: ``key``)."""
    where = where or st
    integer = _is_int(low, high, step)
    _restore(Param(key, default, "int" if integer else "float", low, high, step=None if integer else step, name=name), where)
    return where.slider(label, low, high, step=step, key=key, **widget)


def number(label: str, low: float, high: float, *, key: str, default: Any, step: float = 1,
           where=None, name: str | None = None, **widget: Any) -> Any:
    """``st.number_input`` (an int when the bounds and step are ints) kept in the URL."""
    where = where or st
    integer = _is_int(low, high, step)
    _restore(Param(key, default, "int" if integer else "float", low, high, name=name), where)
    value = where.number_input(label, low, high, step=step, key=key, **widget)
    return int(value) if integer else value


def select(label: str, options: Sequence[Any], *, key: str, default: Any, where=None, name: str | None = None,
           radio: bool = False, format_func: Callable[[Any], str] = str, **widget: Any) -> Any:
    """``st.selectbox`` (or ``st.radio``) whose choice is kept in the URL by its value."""
    where = where or st
    _restore(Param(key, default, "choice", choices=tuple(options), name=name), where)
    draw = where.radio if radio else where.selectbox
    return draw(label, list(options), format_func=format_func, key=key, **widget)


def toggle(label: str, *, key: str, default: bool, where=None, name: str | None = None, **widget: Any) -> bool:
    """``st.toggle`` kept in the URL as 1 or 0."""
    where = where or st
    _restore(Param(key, default, "bool", name=name), where)
    return where.toggle(label, key=key, **widget)
