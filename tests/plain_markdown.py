"""The code spans of a one-line Markdown text, found by CommonMark's rules (spec 0.31, "Code
spans"), to check that text from a link or a file name reaches the page only inside one.

Written here rather than taken from a Markdown library: the project has none installed, and the
check needs only this one rule. A code span opens at a run of N backticks not preceded by a
backslash, closes at the next run of exactly N, and its content loses one space at each end
when it has one at both (and is not all spaces); nothing inside is Markdown or HTML. A run that
finds no closing run is literal text.
"""

from __future__ import annotations

import re

SPAN = "\0"  # stands for each code span in the text outside them


def code_spans(markdown: str) -> tuple[list[str], str]:
    """(the contents of the code spans, the text outside them with SPAN in place of each)."""
    spans, outside, i = [], [], 0
    while i < len(markdown):
        char = markdown[i]
        if char == "\\" and i + 1 < len(markdown):  # an escaped character, a backtick included
            outside.append(markdown[i : i + 2])
            i += 2
            continue
        if char != "`":
            outside.append(char)
            i += 1
            continue
        run = len(re.match(r"`+", markdown[i:]).group())
        closing = next((m for m in re.finditer(r"`+", markdown[i + run :]) if len(m.group()) == run), None)
        if closing is None:
            outside.append("`" * run)
            i += run
            continue
        content = markdown[i + run : i + run + closing.start()]
        if len(content) >= 2 and content[0] == " " and content[-1] == " " and content.strip(" "):
            content = content[1:-1]
        spans.append(content)
        outside.append(SPAN)
        i += run + closing.end()
    return spans, "".join(outside)


MARKUP = re.compile(r"[`\\<>\[\]!*_~$]|:\w+\[|https?:|www\.")  # what could start markup in Streamlit's Markdown


def markup_in(text: str) -> list[str]:
    """The characters or words in ``text`` (outside code spans) that Streamlit's Markdown could
    turn into markup: a link, an image, HTML, emphasis, a formula, a colour directive."""
    return MARKUP.findall(text)
