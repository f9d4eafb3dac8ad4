"""The training page's hyperparameter controls, derived from the settings PPOConfig declares.

Each control, its range, step and label, and its query parameter come from the field's
``Setting`` (ppo_core.config): a field declared with ``control=...`` appears here, in the URL
and in every lab report, with no other edit.
"""

from __future__ import annotations

import streamlit as st

from ppo_core import PRESETS, PPOConfig
from ppo_core.config import BoundSetting, settings
from ui.links import Param
from views import lesson_controls

PER_ROW = 4


def page_settings(cls: type = PPOConfig) -> dict[str, BoundSetting]:
    """The settings the page shows, in declaration order."""
    return {name: s for name, s in settings(cls).items() if s.control}


def widget_key(preset: str, name: str) -> str:
    return f"train_{preset}_{name}"  # each preset keeps its own values


def _bounds(s: BoundSetting) -> tuple[float | None, float | None]:
    """The inclusive range a widget (and a URL value) may take: an open bound moves in by one step."""
    step = s.step or (1 if s.kind == "int" else 0.0)
    low = None if s.low is None else s.low + (step if s.low_open else 0)
    high = None if s.high is None else s.high - (step if s.high_open else 0)
    if s.kind == "int":
        low, high = (None if low is None else int(low)), (None if high is None else int(high))
    return low, high


def url_params(preset: str, assignment=None) -> list[Param]:
    """The query parameters of the preset's controls (named by the fields). With a class's
    ``assignment`` (runs.store.AssignmentRow) only the settings it lets students choose; one
    with a list of values to try is a choice among them (keyed apart from the free control)."""
    base = PRESETS[preset]
    out = []
    for name, s in page_settings(type(base)).items():
        key, default = widget_key(preset, name), getattr(base, name)
        if assignment is not None:
            if name not in assignment.varied:
                continue
            values = assignment.varied[name]
            if values:
                out.append(Param(assignment_key(preset, name, assignment.id), default if default in values else values[0], "choice",
                                 choices=tuple(values), name=name))
                continue
        if s.choices is not None:
            out.append(Param(key, default, "choice", choices=tuple(s.choices), name=name))
        elif s.kind == "bool":
            out.append(Param(key, default, "bool", name=name))
        else:
            low, high = _bounds(s)
            out.append(Param(key, default, "int" if s.kind == "int" else "float", low, high,
                             step=s.step if s.control == "slider" else None, name=name))
    return out


def assignment_key(preset: str, name: str, assignment_id: str) -> str:
    """A choice among one assignment's values (a new assignment's values get a widget of their own)."""
    return f"train_{preset}_{name}_of_{assignment_id}"


def draw(preset: str, assignment=None) -> tuple[PPOConfig | None, str | None]:
    """The controls, PER_ROW to a row, defaulting to the preset's values (restored from the URL
    by :func:`url_params` first). Returns (config, None), or (None, the reason it is invalid).
    With a class's ``assignment`` only the settings it lets students choose are drawn; the run is
    the assignment's (views.classroom.assignment_config: its fixed values and step budget)."""
    base = PRESETS[preset]
    settings = page_settings(type(base))
    values = {}
    for i, param in enumerate(url_params(preset, assignment)):
        name = param.param
        s = settings[name]
        if i % PER_ROW == 0:
            cols = st.columns(PER_ROW)
        options = {"help": s.help}
        if param.kind == "choice":
            if s.choices is not None:
                options["format_func"] = s.choices.get
            elif s.kind == "float":
                options["format_func"] = lambda v: f"{v:g}"
        elif s.kind != "bool":
            options.update(step=s.step, format=s.fmt)  # a number box's step is not the Param's grid
        widget = "select" if param.kind == "choice" else s.control
        values[name] = lesson_controls.draw(param, s.title, widget, where=cols[i % PER_ROW], **options)
    try:
        if assignment is not None:
            from views.classroom import assignment_config

            return assignment_config(assignment, values), None
        return base.replace(**values), None
    except ValueError as exc:
        return None, str(exc)


def fixed_settings(preset: str) -> str | None:
    """One sentence naming the settings the preset changes from PPOConfig's defaults that have
    no control here (normalisation, for one), so that a student sees every value the preset
    trains with; None when there are none."""
    base, default = PRESETS[preset], PPOConfig()
    skip = {"env_id", "target_return", "stop_at_target"}  # the preset's title and the row above say these
    parts = []
    for name, s in settings(type(base)).items():
        value = getattr(base, name)
        if s.control or name in skip or value == getattr(default, name):
            continue
        shown = ("on" if value else "off") if isinstance(value, bool) else (f"{value:g}" if isinstance(value, float) else value)
        parts.append(f"{s.in_text}: {shown}")
    return f"Also set by this preset (not changeable here): {'; '.join(parts)}." if parts else None


def changed_settings(cfg: PPOConfig, preset: str) -> list[str]:
    """'name=value' for each page setting (but the seed and the budget) that differs from the preset."""
    base = PRESETS[preset]
    out = []
    for name in page_settings(type(cfg)):
        value = getattr(cfg, name)
        if name in ("seed", "total_steps") or value == getattr(base, name):
            continue
        out.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return out
