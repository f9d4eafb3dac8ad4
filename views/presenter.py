"""Presenter mode: type and charts readable from the back of a room, no sidebar, no captions.

Switched on by ``?present=1`` or the sidebar's toggle (views.links keeps the flag in the session and
in the URL). app.py calls ``page_bar`` before each page: the style, and a bar at the top with the
way out of presenter mode, the previous and next pages and the link to the view.
Everything is local CSS: no fonts or other resources are fetched.
"""

from __future__ import annotations

import copy

import streamlit as st

from views import links

BAR_KEY = "presenter_bar"  # its container carries the class st-key-presenter_bar
MARKER_CLASS = "ppo-presenter"  # an empty element with this class is on every page in presenter mode

CSS = """
<style>
/* presenter mode: larger type everywhere, no sidebar, no captions */
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stCaptionContainer"] { display: none !important; }
.stMainBlockContainer, [data-testid="stMainBlockContainer"] { max-width: 100% !important; padding-left: 3rem !important; padding-right: 3rem !important; }
.stApp [data-testid="stMarkdownContainer"] :is(p, li, td, th) { font-size: 1.6rem !important; line-height: 1.45 !important; }
.stApp h1 { font-size: 3.4rem !important; }
.stApp h2 { font-size: 2.6rem !important; }
.stApp h3 { font-size: 2.1rem !important; }
.stApp [data-testid="stWidgetLabel"] p { font-size: 1.4rem !important; }
.stApp [data-testid="stMetricLabel"] p { font-size: 1.4rem !important; }
.stApp [data-testid="stMetricValue"], .stApp [data-testid="stMetricValue"] p { font-size: 3rem !important; }
.stApp [data-testid="stMetricDelta"] { font-size: 1.4rem !important; }
.stApp [data-testid="stSliderThumbValue"], .stApp [data-testid="stSliderTickBar"] { font-size: 1.3rem !important; }
.stApp [data-baseweb="select"] div, .stApp input { font-size: 1.3rem !important; }
.stApp [data-testid="stAlertContainer"] p { font-size: 1.6rem !important; }
.stApp .katex { font-size: 1.6em !important; }
.stApp [data-testid="stPageLink"] p { font-size: 1.4rem !important; }
.stApp [data-testid="stCode"] code { font-size: 1.1rem !important; }
/* the lesson tables are HTML tables in presenter mode (views.lesson_tables.show_table) */
.stApp [data-testid="stTable"] :is(td, th) { font-size: 1.45rem !important; line-height: 1.3 !important; }
</style>
"""

AXIS_LABEL, AXIS_TITLE, LEGEND_LABEL, LEGEND_TITLE, TITLE, SUBTITLE = 18, 21, 18, 20, 22, 19
# Streamlit fits a chart's axes, titles and legend into the spec's height, so with larger text
# the plot itself would shrink to a strip: the height grows by this factor.
HEIGHT_FACTOR = 1.6


def presenter_config() -> dict:
    """Vega-Lite config for charts in presenter mode: larger axis, legend and title text."""
    return {
        "axis": {"labelFontSize": AXIS_LABEL, "titleFontSize": AXIS_TITLE},
        "legend": {"labelFontSize": LEGEND_LABEL, "titleFontSize": LEGEND_TITLE, "symbolSize": 160},
        "header": {"labelFontSize": LEGEND_LABEL, "titleFontSize": LEGEND_TITLE},
        "title": {"fontSize": TITLE, "subtitleFontSize": SUBTITLE},
        "text": {"fontSize": AXIS_LABEL},
    }


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def for_presenter(chart):
    """``chart`` (a Vega-Lite spec dict or an Altair chart) with presenter_config merged into its
    config; the original is left as it is (cached specs are shared between sessions)."""
    cfg = presenter_config()
    if isinstance(chart, dict):
        out = {**chart, "config": _merge(chart.get("config") or {}, cfg)}
        if isinstance(chart.get("height"), (int, float)):
            out["height"] = round(chart["height"] * HEIGHT_FACTOR)
        return out
    out = chart.copy(deep=False)
    existing = out.config.to_dict() if hasattr(out.config, "to_dict") else {}
    out.config = _merge(existing, cfg)
    if isinstance(getattr(out, "height", None), (int, float)):
        out.height = round(out.height * HEIGHT_FACTOR)
    return out


def style() -> None:
    """The presenter style and its marker, for this run."""
    st.html(CSS + f'<div class="{MARKER_CLASS}" aria-hidden="true"></div>')


def sidebar_toggle() -> None:
    """The sidebar's "Presenter mode" toggle (normal mode)."""
    st.session_state["present_toggle"] = links.presenter_mode()
    st.sidebar.toggle(
        "Presenter mode",
        key="present_toggle",
        on_change=lambda: links.set_presenter_mode(st.session_state["present_toggle"]),
        help="Large type and charts for a projector; hides the sidebar and captions. Also: add ?present=1 to a link.",
    )


def page_bar(pages: list, current) -> callable:
    """The bar above every page: in presenter mode the way out, previous / next page; in both
    modes the link to this view. Returns the function that fills the link in after the page ran."""
    present = links.presenter_mode()
    if present:
        style()
    else:
        sidebar_toggle()
    bar = st.container(horizontal=True, horizontal_alignment="right", vertical_alignment="center", key=BAR_KEY if present else "page_bar", gap="small")
    if present:
        paths = [p.url_path for p in pages]
        i = paths.index(current.url_path) if current.url_path in paths else 0
        if i > 0:
            bar.page_link(pages[i - 1], label=f"Previous: {pages[i - 1].title}", icon=":material/arrow_back:")
        if i + 1 < len(pages):
            bar.page_link(pages[i + 1], label=f"Next: {pages[i + 1].title}", icon=":material/arrow_forward:")
        st.session_state["present_toggle_bar"] = True
        bar.toggle(
            "Presenter mode",
            key="present_toggle_bar",
            on_change=lambda: links.set_presenter_mode(st.session_state["present_toggle_bar"]),
            help="Switch off to get the sidebar and the captions back.",
        )
    fill = links.link_control(bar)
    note = st.session_state.pop(links.PRESENT + "_note", None)
    if note:
        st.warning(note, icon=":material/link_off:")
    return fill
