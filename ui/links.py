"""A link's parameters, without Streamlit: what a control's value may be, how the URL writes it,
and how a note quotes a value from outside.

Each control kept in the URL is declared once, as a :class:`Param` (its key, default, kind and
range); :mod:`views.links` applies the URL's values to the session and writes them back, and
:func:`views.lesson_controls.control` draws the widget from the same Param::

    eps = control(Param("clip_eps", 0.2, "float", 0.05, 0.5, step=0.01), "Clip range ε")
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
# Beyond 2**53 a browser's number widget no longer holds a whole number exactly (JavaScript's
# Number.MAX_SAFE_INTEGER), so no control here accepts it, bounded or not.
MAX_MAGNITUDE = 2.0**53
NOTE_VALUE_CHARS = 40  # a link's value is cut to this length in a note: a URL's can be thousands long


@dataclass(frozen=True)
class Param:
    """One control whose value is kept in the URL.

    key: the widget's key in ``st.session_state``.
    default: the value without a (valid) URL parameter; a callable is called at restore time
        (after the parameters before it in the same list are restored), for a default that
        depends on another control, e.g. ``lambda: PRESETS[st.session_state["rtg_env"]].gamma``.
    kind: "float", "int", "choice" or "bool".
    lo, hi: inclusive range of a float or int (None: unbounded on that side).
    choices: the allowed values of a "choice" (matched against the URL by ``str(choice)``).
    step: a float's grid from ``lo``: a URL value is rounded to it, as the slider would.
    name: the query parameter's name, if not ``key`` (a shorter alias).
    """

    key: str
    default: Any
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    step: float | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "choice", "bool"):
            raise ValueError(f"Param {self.key}: kind must be float, int, choice or bool, not {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"Param {self.key}: a choice needs its choices")
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def param(self) -> str:
        """The query parameter's name."""
        return self.name or self.key

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def allowed(self) -> str:
        """What the parameter accepts, in words."""
        if self.kind == "bool":
            return "1 or 0 (true or false)"
        if self.kind == "choice":
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = "a whole number" if self.kind == "int" else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{kind} from {format_value(self, self.lo)} to {format_value(self, self.hi)}"
        if self.lo is not None:
            return f"{kind} ≥ {format_value(self, self.lo)}"
        if self.hi is not None:
            return f"{kind} ≤ {format_value(self, self.hi)}"
        return kind

    def parse(self, raw: str) -> Any:
        """The value of a URL parameter; ValueError (with the reason) if it is not allowed."""
        text = raw.strip()
        if self.kind == "bool":
            if text.lower() in TRUE_WORDS:
                return True
            if text.lower() in FALSE_WORDS:
                return False
            raise ValueError("is not a yes/no value")
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == text:
                    return choice
            raise ValueError("is not one of the choices")
        try:
            number = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        # The range is checked before any arithmetic: 1e307 / step is infinite, and round() of
        # infinity raises OverflowError, not the ValueError that gives a note.
        if not math.isfinite(number):
            raise ValueError("is not a finite number")
        if self.kind == "int" and not number.is_integer():
            raise ValueError("is not a whole number")
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi) or abs(number) > MAX_MAGNITUDE:
            raise ValueError("is out of range")
        number += 0.0  # -0.0 becomes 0.0: the URL is written back from this value, and "-0" is no value to show
        if self.kind == "int":
            return int(number)
        if self.step:
            base = self.lo if self.lo is not None else 0.0
            steps = (number - base) / self.step
            if not math.isfinite(steps):  # a tiny step on an unbounded side
                raise ValueError("is out of range")
            number = round(base + round(steps) * self.step, 10) + 0.0
            # the grid's nearest point may lie a rounding past an end that is not on the grid
            number = min(number, self.hi) if self.hi is not None else number
            number = max(number, self.lo) if self.lo is not None else number
        return number

    def read(self, raw: str) -> tuple[Any, str | None]:
        """What a URL parameter gives the control: ``(value, None)`` for an allowed value, else
        ``(default, note)`` with the note to show on the page (Markdown whose only markup is the
        code span holding the URL's text, see :func:`bad_value_note`)."""
        try:
            return self.parse(raw), None
        except ValueError as why:
            default = self.default_value()
            return default, bad_value_note(self, raw, str(why), default)


def format_value(param: Param, value: Any) -> str:
    """A value as the URL writes it."""
    if param.kind == "bool":
        return "1" if value else "0"
    if param.kind == "int":
        return str(int(value))
    if param.kind == "float":
        return format(float(value) + 0.0, ".10g")  # + 0.0: never "-0"
    return str(value)


# -- a link's own text, shown on the page ----------------------------------------------------------
def shown_text(text: str, limit: int = NOTE_VALUE_CHARS) -> str:
    """Text from outside (a URL's value, a file's name) as a note quotes it: control characters
    (a line break would end the note's Markdown paragraph) written as escapes, cut to ``limit``
    characters with an ellipsis."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "…"


def code_span(text: str) -> str:
    """``text`` as a Markdown code span that shows it verbatim: nothing inside a code span is
    Markdown or HTML (no link, image, emphasis, colour directive or formula), and the fence is a
    run of backticks longer than any run in ``text``, so the text cannot close it. Call it on
    :func:`shown_text`'s output: a code span cannot hold a line break.

    Written by hand: Streamlit has no function that quotes text for its Markdown, and
    backslash-escaping each character would still leave GFM's bare-URL autolinks live."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A backtick at an end would join the fence, so such text is padded with a space on both
    # sides; CommonMark strips one space from each end of a span that has both, so text that
    # starts and ends with a space is padded too, to keep its own.
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == " " and text[-1:] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def bad_value_note(param: Param, raw: str, why: str, default: Any) -> str:
    """The note for a link's value that is not allowed: the parameter and its (cut) value, why,
    what is allowed, and the default shown instead."""
    return (
        f"The link's parameter {code_span(param.param + '=' + shown_text(raw))} {why} (allowed: {param.allowed()}); "
        f"showing the default, {format_value(param, default)}."
    )
