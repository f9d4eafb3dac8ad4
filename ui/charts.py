"""Altair chart builders: pure functions from data to a chart, no Streamlit, one per kind of chart.

Every page that draws the same kind of chart calls the same builder (the clip plot is drawn by
the clip page, by the one-update page and by the live training page).

Encodings are always written as channel objects (``alt.X("ratio:Q")``), never as bare strings
(``x="ratio:Q"``) or ``alt.condition``/``alt.value``: Altair 6 turns each of those into a channel
through ``from_dict``, which hashes its whole schema (about 50 ms a channel on these machines),
and a slider move redraws several charts.
"""

from __future__ import annotations

import copy
import functools

import altair as alt
import numpy as np
import pandas as pd

# The lesson charts' colours: Okabe and Ito's palette ("Color Universal Design", 2008), chosen so
# that readers with any common colour-vision deficiency can tell them apart; and no chart tells
# its series apart by colour alone (dashes, shapes, or a legend entry name them too).
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",  # not one of the eight: for what is drawn only for comparison
}
BLUE, ORANGE, GREEN, VERMILLION = OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish green"], OKABE_ITO["vermillion"]

CURVE_COLORS = {
    "L^CLIP = min(rÂ, clip(r)Â)": BLUE,
    "unclipped rÂ (no clipping)": OKABE_ITO["grey"],
    "L^KLPEN = rÂ − β·KL": VERMILLION,
}
CLIP_KEY, UNCLIPPED_KEY, KL_KEY = CURVE_COLORS
CURVE_DASH = {CLIP_KEY: [1, 0], UNCLIPPED_KEY: [4, 3], KL_KEY: [1, 0]}
CURVE_WIDTH = {CLIP_KEY: 3.5, UNCLIPPED_KEY: 2, KL_KEY: 2.5}


ZERO_GRADIENT = "gradient is zero (clipped)"  # the shaded band's name, in the legend too
OFF_SCALE = "beyond the axis"  # the KL penalty's markers where its curve leaves the y range


def _zero_gradient_spans(ratio: np.ndarray, flags: np.ndarray) -> pd.DataFrame:
    """Contiguous [start, end] spans of the ratio axis where ``flags`` is true."""
    flags = np.asarray(flags, dtype=bool)
    edges = np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return pd.DataFrame({"start": ratio[starts], "end": ratio[ends]})


@functools.lru_cache(maxsize=32)
def _clip_template(
    with_kl: bool, with_probe: bool, with_points: bool, height: int, with_highlight: bool = False,
    curve_keys: tuple[str, ...] | None = None, with_clip: bool = True,
) -> dict:
    """The clip plot's Vega-Lite spec, built with Altair once per structure and validated.

    Every layer reads a *named* dataset, so a redraw only swaps the data, the title and the
    y-domain: building and validating this layered chart costs ~100 ms here, filling it ~1 ms,
    and the teacher drags ε across the projector.
    """
    x = alt.X("ratio:Q", title="probability ratio r = π_θ(a|s) / π_θₖ(a|s)")
    y_scale = alt.Scale(domain=[-1.0, 1.0], clamp=True)  # replaced on every fill
    shade = (
        alt.Chart(alt.Data(name="spans"))
        .mark_rect(opacity=0.25)
        .encode(
            x=alt.X("start:Q"),
            x2=alt.X2("end:Q"),
            # by a fill legend entry, not by its colour alone, the band says what it is
            fill=alt.Fill("label:N", title=None, scale=alt.Scale(domain=[ZERO_GRADIENT], range=[ORANGE]), legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("label:N", title="")],
        )
    )
    rules = (
        alt.Chart(alt.Data(name="bounds"))
        .mark_rule(strokeDash=[6, 4], color="#555")
        .encode(x=alt.X("ratio:Q"), tooltip=[alt.Tooltip("label:N"), alt.Tooltip("ratio:Q")])
    )
    rule_text = (
        alt.Chart(alt.Data(name="bounds"))
        .mark_text(y=0, dy=-6, align="center", baseline="bottom", color="#555")
        .encode(x=alt.X("ratio:Q"), text=alt.Text("label:N"))
    )
    # curve_keys: the lines drawn (default: L^CLIP, rA and, with_kl, L^KLPEN); with_clip: the
    # zero-gradient band and the 1 ± ε rules (not for an objective without a clip)
    domain = list(curve_keys) if curve_keys else list(CURVE_COLORS) if with_kl else [CLIP_KEY, UNCLIPPED_KEY]
    lines = (
        alt.Chart(alt.Data(name="lines"))
        .mark_line()
        .encode(
            x=x,
            y=alt.Y("objective:Q", title="per-sample objective", scale=y_scale),
            color=alt.Color(
                "curve:N",
                title=None,
                scale=alt.Scale(domain=domain, range=[CURVE_COLORS[k] for k in domain]),
                legend=alt.Legend(orient="bottom", direction="vertical"),
            ),
            strokeDash=alt.StrokeDash(
                "curve:N", scale=alt.Scale(domain=domain, range=[CURVE_DASH[k] for k in domain]), legend=None
            ),
            strokeWidth=alt.StrokeWidth(
                "curve:N", scale=alt.Scale(domain=domain, range=[CURVE_WIDTH[k] for k in domain]), legend=None
            ),
        )
    )
    layers = [shade, rules, rule_text, lines] if with_clip else [lines]
    point_tooltip = [alt.Tooltip("ratio:Q", format=".3f"), alt.Tooltip("objective:Q", format=".3f")]
    if with_points:
        layers.append(
            alt.Chart(alt.Data(name="points"))
            .mark_circle(size=28, opacity=0.55, color=GREEN)
            .encode(x=alt.X("ratio:Q"), y=alt.Y("objective:Q", scale=y_scale), tooltip=point_tooltip)
        )
    if with_highlight:
        layers.append(
            alt.Chart(alt.Data(name="highlight"))
            # aria=False: the rings mark samples the points layer already lists for a screen
            # reader, and an empty layer would be an unlabelled graphic (axe: svg-img-alt)
            .mark_point(size=70, filled=False, strokeWidth=1.5, color=VERMILLION, aria=False)
            .encode(x=alt.X("ratio:Q"), y=alt.Y("objective:Q", scale=y_scale), tooltip=point_tooltip)
        )
    if with_probe:
        layers.append(
            alt.Chart(alt.Data(name="probe"))
            .mark_point(size=160, filled=True, color="black", shape="diamond")
            .encode(x=alt.X("ratio:Q"), y=alt.Y("objective:Q", scale=y_scale), tooltip=point_tooltip)
        )
    if with_kl:
        # Where the penalised curve leaves the y range it is cut, not drawn flat along the edge
        # (which would look like a zero-gradient plateau): a triangle at the edge points on.
        layers.append(
            alt.Chart(alt.Data(name="off_scale"))
            .mark_point(size=120, filled=True, color=VERMILLION)
            .encode(
                x=alt.X("ratio:Q"),
                y=alt.Y("objective:Q", scale=y_scale),
                shape=alt.Shape("direction:N", title=None, scale=alt.Scale(domain=[f"{OFF_SCALE} ▼", f"{OFF_SCALE} ▲"], range=["triangle-down", "triangle-up"]), legend=alt.Legend(orient="bottom")),
                tooltip=[alt.Tooltip("direction:N", title=""), alt.Tooltip("ratio:Q", format=".2f")],
            )
        )
    return alt.layer(*layers).properties(height=height, title="clip plot").resolve_legend(fill="independent", shape="independent").to_dict()


def _set_y_domain(node, domain: list[float]) -> None:
    """Replace the y-scale domain wherever the template set one (in place, on a copied spec)."""
    if isinstance(node, dict):
        y = node.get("encoding", {}).get("y")
        if isinstance(y, dict) and "scale" in y:
            y["scale"] = {**y["scale"], "domain": domain}
        for layer in node.get("layer", []):
            _set_y_domain(layer, domain)


def kl_off_scale_marks(ratio: np.ndarray, y: np.ndarray, y_lo: float, y_hi: float) -> pd.DataFrame:
    """Where the curve ``y`` over ``ratio`` leaves [y_lo, y_hi]: one row per stretch outside it,
    at the ratio of its last point inside (or its own first point, if it starts outside), on the
    edge it crosses, with ``direction`` "beyond the axis ▼" (below) or "… ▲" (above)."""
    rows = []
    finite = np.isfinite(y)
    outside = finite & ((y < y_lo) | (y > y_hi))
    edges = np.diff(np.concatenate([[False], outside, [False]]).astype(np.int8))
    inside = finite & ~outside
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1):
        # the point where the curve leaves: next to the stretch, on the side that is drawn (at
        # r = 0 the KL estimate is infinite, so a stretch from there is entered from the right)
        at = start - 1 if start > 0 and inside[start - 1] else end + 1 if end + 1 < len(y) and inside[end + 1] else start
        below = y[start] < y_lo
        rows.append({"ratio": float(ratio[at]), "objective": y_lo if below else y_hi, "direction": f"{OFF_SCALE} {'▼' if below else '▲'}"})
    return pd.DataFrame(rows, columns=["ratio", "objective", "direction"])


def clip_objective_chart(
    curves: dict[str, np.ndarray],
    eps: float,
    advantage: float,
    *,
    probe: float | None = None,
    points: pd.DataFrame | None = None,
    highlight: pd.DataFrame | None = None,
    height: int = 320,
) -> dict:
    """The clip plot: L^CLIP over the ratio r for one advantage, as a Vega-Lite spec (a dict).

    Layers: shaded spans where the gradient is zero, the clip range [1−ε, 1+ε] as dashed rules,
    the unclipped line rA, L^CLIP (and L^KLPEN when ``curves`` has it), optional batch points
    (a DataFrame with columns ``ratio``, ``objective``), some of them ringed in red
    (``highlight``, same columns), and an optional probe point on L^CLIP.
    ``curves`` is :func:`ppo_core.lesson.objective_curves`' output. Draw it with
    ``views.widgets.show_chart`` (or ``st.vega_lite_chart``); its data are the DataFrames in
    ``spec["datasets"]``.
    """
    from ppo_core import clipped_objective

    ratio = curves["ratio"]
    keys = [(CLIP_KEY, "clipped"), (UNCLIPPED_KEY, "unclipped")]
    if "kl_penalty" in curves:
        keys.append((KL_KEY, "kl_penalty"))
    lo = float(min(curves["unclipped"].min(), curves["clipped"].min()))
    hi = float(max(curves["unclipped"].max(), curves["clipped"].max()))
    pad = 0.1 * max(hi - lo, 1e-6)
    y_lo, y_hi = lo - pad, hi + pad
    frames, off_scale = [], pd.DataFrame({"ratio": [], "objective": [], "direction": []})
    for label, field in keys:
        y = np.asarray(curves[field], dtype=float)
        ok = np.isfinite(y)
        if field == "kl_penalty":
            # only the part inside the y range is drawn; where it leaves, a marker on the edge
            inside = ok & (y >= y_lo) & (y <= y_hi)
            off_scale = kl_off_scale_marks(ratio, y, y_lo, y_hi)
            ok = inside
        frames.append(pd.DataFrame({"ratio": ratio[ok], "objective": y[ok], "curve": label}))
    spans = _zero_gradient_spans(ratio, curves["zero_gradient"]).assign(label=ZERO_GRADIENT)
    datasets = {
        "lines": pd.concat(frames, ignore_index=True),
        "spans": spans,
        "bounds": pd.DataFrame({"ratio": [1 - eps, 1 + eps], "label": ["1 − ε", "1 + ε"]}),
    }
    with_points = points is not None and len(points) > 0
    if with_points:
        datasets["points"] = points[["ratio", "objective"]].reset_index(drop=True)
    # The highlight layer whenever a frame is given, even an empty one: the update page's charts
    # then keep one spec from epoch to epoch (only their data change) when the first
    # zero-gradient sample appears.
    with_highlight = highlight is not None
    if with_highlight:
        datasets["highlight"] = highlight[["ratio", "objective"]].reset_index(drop=True)
    if probe is not None:
        datasets["probe"] = pd.DataFrame({"ratio": [probe], "objective": [float(clipped_objective(probe, advantage, eps))]})
    if "kl_penalty" in curves:
        datasets["off_scale"] = off_scale
    template = _clip_template("kl_penalty" in curves, probe is not None, with_points, height, with_highlight)
    spec = copy.deepcopy(template)
    _set_y_domain(spec, [y_lo, y_hi])
    sign = "Â > 0" if advantage > 0 else "Â < 0" if advantage < 0 else "Â = 0"
    spec["title"] = f"{sign} (Â = {advantage:+.2f}, ε = {eps:.2f})"
    spec["datasets"] = datasets
    return spec


# How the latest batch is drawn for each objective a run may train: (the curves drawn, whether
# the clip's band and rules are drawn, the chart's name of the objective).
BATCH_OBJECTIVES = {
    "clip": ((CLIP_KEY, UNCLIPPED_KEY), True, "L^CLIP"),
    "none": ((UNCLIPPED_KEY,), False, "r·Â"),
    "kl_penalty": ((KL_KEY, UNCLIPPED_KEY), False, "L^KLPEN"),
}
BATCH_Y_QUANTILE = 0.02  # the y axis spans the dots but the lowest 2 %: one tiny |Â| would squash the rest


def batch_objective_charts(ratio, advantage, objective: str, eps: float, beta: float | None = None, *, height: int = 240) -> dict[float, dict]:
    """A batch's samples on the objective its run trains: for A > 0 and A < 0 (keys 1.0 and
    −1.0), each sample of that sign as a dot at its ratio r and its objective per unit |Â|,
    ``ppo_core.surrogate_objective(...) / |Â|``, over the objective's curve for |Â| = 1.

    ``objective`` is the run's config's: "clip" draws L^CLIP with its zero-gradient band and the
    rules 1 ± ε; "none" the line r·Â alone; "kl_penalty" r·Â − β·KL (β of this update) beside
    r·Â, where a sample's dot sits below the curve by β·KL·(1/|Â| − 1), so dots of small |Â|
    sit lower. Dots below the y axis (at most the lowest 2 %) are drawn on its edge; each
    spec's ``usermeta["below_axis"]`` counts them. The ratio axis reaches 2 or the batch's
    largest ratio."""
    from ppo_core import surrogate_objective
    from ppo_core.lesson import objective_curves

    if objective not in BATCH_OBJECTIVES:
        raise ValueError(f"objective: must be one of {', '.join(BATCH_OBJECTIVES)}; got {objective!r}")
    if objective == "kl_penalty" and beta is None:
        raise ValueError("beta: the KL-penalty objective needs the β of the update")
    keys, with_clip, name = BATCH_OBJECTIVES[objective]
    ratio, advantage = np.asarray(ratio, dtype=float), np.asarray(advantage, dtype=float)
    r_max = max(2.0, float(np.ceil(ratio.max() * 10) / 10)) if len(ratio) else 2.0
    fields = {CLIP_KEY: "clipped", UNCLIPPED_KEY: "unclipped", KL_KEY: "kl_penalty"}
    out = {}
    for sign in (1.0, -1.0):
        on_side = np.sign(advantage) == sign
        side, adv = ratio[on_side], advantage[on_side]
        per_unit = surrogate_objective(objective, side, adv, eps=eps, beta=beta) / np.abs(adv)
        curves = objective_curves(eps, sign, beta=beta if objective == "kl_penalty" else None, r_max=r_max)
        lines = pd.concat([pd.DataFrame({"ratio": curves["ratio"], "objective": curves[fields[k]], "curve": k}) for k in keys], ignore_index=True)
        lines = lines[np.isfinite(lines["objective"])]
        unclipped = curves["unclipped"]
        lo, hi = float(unclipped.min()), float(unclipped.max())
        if len(per_unit):
            lo = min(lo, float(np.quantile(per_unit, BATCH_Y_QUANTILE)))
            hi = max(hi, float(per_unit.max()))
        pad = 0.1 * max(hi - lo, 1e-6)
        lo, hi = lo - pad, hi + pad
        lines = lines[(lines["objective"] >= lo) & (lines["objective"] <= hi)]  # a curve leaves the chart at its edge, not flat along it
        spans = _zero_gradient_spans(curves["ratio"], curves["zero_gradient"]).assign(label="gradient is zero (clipped)")
        datasets = {
            "lines": lines.reset_index(drop=True),
            "spans": spans if with_clip else spans.iloc[:0],
            "bounds": pd.DataFrame({"ratio": [1 - eps, 1 + eps], "label": ["1 − ε", "1 + ε"]}),
        }
        with_points = len(side) > 0
        if with_points:
            datasets["points"] = pd.DataFrame({"ratio": side, "objective": per_unit})
        if objective == "kl_penalty":  # the penalised curve is cut where it leaves the chart, marked as on the clip page
            datasets["off_scale"] = kl_off_scale_marks(curves["ratio"], curves["kl_penalty"], lo, hi)
        spec = copy.deepcopy(_clip_template(objective == "kl_penalty", False, with_points, height, False, keys, with_clip))
        _set_y_domain(spec, [lo, hi])
        which = "Â > 0" if sign > 0 else "Â < 0"
        detail = f"ε = {eps:.2f}" if objective == "clip" else f"β = {beta:.3g}" if objective == "kl_penalty" else "no clip"
        spec["title"] = f"{which}: {name} ({detail})"  # short: three side by side in a comparison
        spec["datasets"] = datasets
        spec["autosize"] = FIT_WIDTH
        spec["usermeta"] = {"below_axis": int(np.sum(per_unit < lo)), "objective": objective}
        out[sign] = spec
    return out


def series_chart(
    df: pd.DataFrame,
    x: str,
    y: list[str],
    *,
    x_title: str,
    y_title: str,
    height: int = 260,
    mark: str = "line",
    target: float | None = None,
) -> alt.Chart | alt.LayerChart:
    """Several columns of ``df`` against ``x`` as coloured lines (or points/bars), one legend entry each;
    an optional horizontal target rule."""
    long = df.melt(id_vars=[x], value_vars=y, var_name="series", value_name="value")
    base = alt.Chart(long)
    enc = dict(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y("value:Q", title=y_title),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip(f"{x}:Q"), alt.Tooltip("series:N"), alt.Tooltip("value:Q", format=".4f")],
    )
    if mark == "point":
        chart = base.mark_circle(size=40).encode(**enc)
    elif mark == "bar":
        chart = base.mark_bar(opacity=0.7).encode(**enc, xOffset=alt.XOffset("series:N"))
    else:
        chart = base.mark_line(point=len(df) <= 60).encode(**enc)
    chart = chart.properties(height=height)
    if target is not None:
        rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(strokeDash=[6, 4], color="#d62728").encode(y=alt.Y("target:Q"))
        return alt.layer(chart, rule)
    return chart


# -- page 5: one PPO update ------------------------------------------------------------------------


def clip_objective_with_highlight(
    curves: dict[str, np.ndarray],
    eps: float,
    advantage: float,
    points: pd.DataFrame,
    highlighted: pd.DataFrame,
    *,
    height: int = 320,
) -> dict:
    """:func:`clip_objective_chart` with a batch's samples as points (columns ``ratio``,
    ``objective``) and the rows of ``highlighted`` ringed in red on top."""
    return clip_objective_chart(curves, eps, advantage, points=points, highlight=highlighted, height=height)


def scatter_with_diagonal(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    *,
    x_title: str,
    y_title: str,
    color_title: str | None = None,
    colors: dict[str, str] | None = None,
    domain: tuple[float, float] | None = None,
    height: int = 300,
) -> dict:
    """``y`` against ``x`` as points coloured by the category column ``color`` (dataset
    ``points``), over the dashed diagonal y = x (dataset ``diagonal``): a point on it did not
    change, or was predicted exactly. Both axes span ``domain`` (default: the data's range), so
    a series of such charts can keep the same axes. A Vega-Lite spec (a dict)."""
    if domain is None:
        both = pd.concat([df[x], df[y]])
        domain = (float(both.min()), float(both.max()))
    lo, hi = float(domain[0]), float(domain[1])
    color_items = tuple(colors.items()) if colors else ()
    spec = copy.deepcopy(_scatter_template(x, y, color, color_title, color_items, height))
    for layer in spec["layer"]:
        for channel in ("x", "y"):
            enc = layer["encoding"][channel]
            enc["scale"] = {**enc.get("scale", {}), "domain": [lo, hi]}
            if layer["data"]["name"] == "points":
                enc["title"] = x_title if channel == "x" else y_title
    spec["datasets"] = {
        "points": df[[x, y, color]].reset_index(drop=True),
        "diagonal": pd.DataFrame({x: [lo, hi], y: [lo, hi]}),
    }
    return spec


@functools.lru_cache(maxsize=16)
def _scatter_template(x: str, y: str, color: str, color_title: str | None, colors: tuple[tuple[str, str], ...], height: int) -> dict:
    scale = alt.Scale(domain=[0.0, 1.0], zero=False, nice=False)  # domain and titles set on every fill
    color_scale = alt.Scale(domain=[k for k, _ in colors], range=[v for _, v in colors]) if colors else alt.Scale()
    shape_scale = alt.Scale(domain=[k for k, _ in colors], range=["circle", "triangle-up", "square", "diamond"][: len(colors)]) if colors else alt.Scale()
    points = (
        alt.Chart(alt.Data(name="points"))
        .mark_point(size=26, opacity=0.6, filled=True)
        .encode(
            x=alt.X(f"{x}:Q", title=x, scale=scale),
            y=alt.Y(f"{y}:Q", title=y, scale=scale),
            color=alt.Color(f"{color}:N", title=color_title, scale=color_scale, legend=alt.Legend(orient="bottom")),
            # the same field as a shape too (one merged legend): the groups differ by more than colour
            shape=alt.Shape(f"{color}:N", title=color_title, scale=shape_scale, legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip(f"{x}:Q", format=".4f"), alt.Tooltip(f"{y}:Q", format=".4f"), alt.Tooltip(f"{color}:N")],
        )
    )
    diagonal = (
        alt.Chart(alt.Data(name="diagonal"))
        .mark_line(strokeDash=[5, 4], color="#555")
        .encode(x=alt.X(f"{x}:Q", scale=scale), y=alt.Y(f"{y}:Q", scale=scale))
    )
    return alt.layer(diagonal, points).properties(height=height).to_dict()


def with_x_marker(chart: alt.Chart | alt.LayerChart | dict, x_value: float, field: str) -> dict:
    """``chart`` with a vertical dotted rule at ``field`` = ``x_value`` (dataset ``marker``), as
    a Vega-Lite spec. Given an Altair chart it converts it (tens of ms); given a spec this
    function returned, it only moves the rule, so keep the spec and move the rule on redraws."""
    if isinstance(chart, dict):
        spec = dict(chart)
    else:
        rule = (
            alt.Chart(alt.Data(name="marker"))
            .mark_rule(strokeDash=[2, 3], color="#555", size=1.5)
            .encode(x=alt.X(f"{field}:Q"))
        )
        spec = alt.layer(chart, rule).to_dict()
    spec["datasets"] = {**spec.get("datasets", {}), "marker": pd.DataFrame({field: [float(x_value)]})}
    return spec


# -- pages 1 to 3: the loop, rewards-to-go, advantages --------------------------------------------
# Built like the clip plot: the Vega-Lite spec is made with Altair once per structure (axis titles,
# which layers), its layers read named datasets, and a redraw only deep-copies it and fills the data.


@functools.lru_cache(maxsize=64)
def _histogram_template(x_title: str, y_title: str, bins: int, with_rule: bool, height: int) -> dict:
    bars = (
        alt.Chart(alt.Data(name="values"))
        .mark_bar(opacity=0.8)
        .encode(
            x=alt.X("value:Q", bin=alt.Bin(maxbins=bins), title=x_title),
            y=alt.Y("count():Q", title=y_title),
            tooltip=[alt.Tooltip("count():Q", title="count")],
        )
    )
    layers = [bars]
    if with_rule:
        layers.append(
            alt.Chart(alt.Data(name="rule"))
            .mark_rule(color=VERMILLION, strokeDash=[6, 4], size=2)
            .encode(x=alt.X("value:Q"), tooltip=[alt.Tooltip("label:N", title=""), alt.Tooltip("value:Q")])
        )
    return alt.layer(*layers).properties(height=height).to_dict()


def histogram_chart(
    values,
    *,
    x_title: str,
    y_title: str = "count",
    bins: int = 30,
    rule: float | None = None,
    rule_label: str = "",
    height: int = 240,
) -> dict:
    """A histogram of ``values``, as a Vega-Lite spec (a dict): the raw values are the dataset
    ``values`` (column ``value``), binned by Vega-Lite into at most ``bins`` bars; an optional
    dashed vertical rule at ``rule`` (dataset ``rule``, named ``rule_label`` in its tooltip)."""
    spec = copy.deepcopy(_histogram_template(x_title, y_title, bins, rule is not None, height))
    spec["datasets"] = {"values": pd.DataFrame({"value": np.asarray(values, dtype=np.float64)})}
    if rule is not None:
        spec["datasets"]["rule"] = pd.DataFrame({"value": [float(rule)], "label": [rule_label]})
    return spec


LOG_SERIES_COLORS = [BLUE, ORANGE, GREEN]


@functools.lru_cache(maxsize=64)
def _log_scale_template(x: str, ys: tuple[str, ...], x_title: str, y_title: str, height: int) -> dict:
    # The data stay wide (one column per curve) and Vega-Lite folds them into (series, value).
    color = alt.Color("series:N", title=None, scale=alt.Scale(domain=list(ys), range=LOG_SERIES_COLORS[: len(ys)]), legend=alt.Legend(orient="bottom"))
    enc = {
        "x": alt.X(f"{x}:Q", title=x_title),
        "y": alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log")),
        "color": color,
        "tooltip": [alt.Tooltip(f"{x}:Q"), alt.Tooltip("series:N"), alt.Tooltip("value:Q", format=".4g")],
    }
    fold = {"fold": list(ys), "as_": ["series", "value"]}
    line = alt.Chart(alt.Data(name="series")).transform_fold(**fold).mark_line(point=True).encode(**enc)
    highlight_enc = {k: v for k, v in enc.items() if k != "color"}
    point = alt.Chart(alt.Data(name="highlight")).transform_fold(**fold).mark_point(size=180, filled=True, color=VERMILLION).encode(**highlight_enc)
    return alt.layer(line, point).properties(height=height).to_dict()


def log_scale_chart(
    df: pd.DataFrame,
    x: str,
    ys: str | list[str],
    *,
    x_title: str,
    y_title: str,
    highlight: float | None = None,
    height: int = 240,
) -> dict:
    """Each column of ``ys`` against ``x`` as a line with points on a logarithmic y axis, one
    colour per column with its name in the legend, as a Vega-Lite spec (dataset ``series``: the
    ``x`` and ``ys`` columns). The row whose ``x`` is nearest ``highlight`` (the slider's current
    setting) is also drawn as large red points (dataset ``highlight``, empty without one)."""
    ys = (ys,) if isinstance(ys, str) else tuple(ys)
    spec = copy.deepcopy(_log_scale_template(x, ys, x_title, y_title, height))
    series = df[[x, *ys]].reset_index(drop=True)
    if highlight is None or not len(series):
        current = series.iloc[:0]
    else:
        current = series.iloc[[int(np.argmin(np.abs(series[x].to_numpy(dtype=np.float64) - highlight)))]]
    spec["datasets"] = {"series": series, "highlight": current.reset_index(drop=True)}
    return spec


STEP_SERIES_COLORS = [BLUE, ORANGE, GREEN, OKABE_ITO["reddish purple"], OKABE_ITO["sky blue"], OKABE_ITO["black"]]
STEP_EVENT_COLORS = {"terminated": VERMILLION, "truncated (time limit)": "#555555"}
STEP_EVENT_DASH = {"terminated": [1, 0], "truncated (time limit)": [5, 3]}  # solid and dashed: not by colour alone


@functools.lru_cache(maxsize=64)
def _step_template(
    x: str, bars: tuple[str, ...], lines: tuple[str, ...], events: tuple[str, ...], x_title: str, y_title: str, segment: str | None, height: int
) -> dict:
    series = [*bars, *lines]
    colors = [STEP_SERIES_COLORS[i % len(STEP_SERIES_COLORS)] for i in range(len(series))]
    colors += [STEP_EVENT_COLORS.get(e, "#bcbd22") for e in events]
    color = alt.Color(
        "series:N", title=None, scale=alt.Scale(domain=[*series, *events], range=colors), legend=alt.Legend(orient="bottom", columns=3)
    )
    x_enc = alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(nice=False, zero=False))  # domain set on every fill
    y_enc = alt.Y("value:Q", title=y_title)
    tooltip = [alt.Tooltip(f"{x}:Q"), alt.Tooltip("series:N"), alt.Tooltip("value:Q", format=".4f")]
    line_enc = {"x": x_enc, "y": y_enc, "color": color, "tooltip": tooltip}
    if segment:
        line_enc["detail"] = alt.Detail(f"{segment}:N")
    layers = []
    if bars:  # no empty layer: its mark group would be an unnamed graphic to a screen reader
        layers.append(alt.Chart(alt.Data(name="bars")).mark_bar(opacity=0.5, width={"band": 0.8}).encode(x=x_enc, y=y_enc, color=color, tooltip=tooltip))
    if lines:
        layers.append(alt.Chart(alt.Data(name="lines")).mark_line(point=True).encode(**line_enc))
    if events:
        dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=list(events), range=[STEP_EVENT_DASH.get(e, [2, 2]) for e in events]), legend=None)
        layers.append(
            alt.Chart(alt.Data(name="events"))
            .mark_rule(size=2)
            .encode(x=x_enc, color=color, strokeDash=dash, tooltip=[alt.Tooltip("series:N", title="episode ended")])
        )
    return alt.layer(*layers).properties(height=height).to_dict()


def step_chart(
    df: pd.DataFrame,
    x: str,
    *,
    bars: list[str],
    lines: list[str],
    x_title: str,
    y_title: str,
    segment: str | None = None,
    events: pd.DataFrame | None = None,
    height: int = 280,
) -> dict:
    """Per-time-step quantities as a Vega-Lite spec: the columns ``bars`` (e.g. rewards) as bars
    (overlaid, so keep it to one) and ``lines`` (e.g. R̂) as lines with points, one colour and
    legend entry per column, in long format (columns ``x``, ``series``, ``value``) in the datasets
    ``bars`` and ``lines``; NaN values are left out (rows not yet computed). With ``segment``
    (e.g. an episode number) a line is broken where it changes. ``events`` has columns ``x`` (a
    step t) and ``event`` (a label such as "terminated"): dataset ``events`` holds a dashed rule
    at t + 0.5, between the step after which the episode ended and the next one. The x axis spans
    the steps of ``df`` and half a step either side.
    """
    ids = [x] + ([segment] if segment else [])
    long = {}
    for name, columns in (("bars", bars), ("lines", lines)):
        # long format by hand: DataFrame.melt costs several ms, and this redraws on every slider move
        values = np.concatenate([df[c].to_numpy(dtype=np.float64) for c in columns]) if columns else np.empty(0)
        frame = {i: np.tile(df[i].to_numpy(), len(columns)) for i in ids}
        frame["series"] = np.repeat(np.asarray(columns, dtype=object), len(df))
        frame["value"] = values
        keep = ~np.isnan(values)
        long[name] = pd.DataFrame({k: v[keep] for k, v in frame.items()})
    labels: tuple[str, ...] = ()
    if events is not None and len(events):
        labels = tuple(dict.fromkeys(str(e) for e in events["event"]))
        long["events"] = pd.DataFrame({x: events["x"].to_numpy(dtype=np.float64) + 0.5, "series": events["event"].astype(str).to_numpy()})
    spec = copy.deepcopy(_step_template(x, tuple(bars), tuple(lines), labels, x_title, y_title, segment, height))
    steps = df[x].to_numpy(dtype=np.float64)
    domain = [float(steps.min()) - 0.5, float(steps.max()) + 0.5] if len(steps) else [0.0, 1.0]
    for layer in spec["layer"]:
        layer["encoding"]["x"]["scale"] = {**layer["encoding"]["x"].get("scale", {}), "domain": domain}
    spec["datasets"] = long
    return spec


@functools.lru_cache(maxsize=64)
def _points_template(x: str, y: str, x_title: str, y_title: str, height: int) -> dict:
    return (
        alt.Chart(alt.Data(name="points"))
        .mark_circle(size=40, opacity=0.7, color=BLUE)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title),
            y=alt.Y(f"{y}:Q", title=y_title),
            tooltip=[alt.Tooltip(f"{x}:Q", format=".4f"), alt.Tooltip(f"{y}:Q", format=".4f")],
        )
        .properties(height=height)
        .to_dict()
    )


def points_chart(df: pd.DataFrame, x: str, y: str, *, x_title: str, y_title: str, height: int = 260) -> dict:
    """``y`` against ``x`` as points (dataset ``points``, columns ``x`` and ``y``), as a Vega-Lite
    spec: :func:`series_chart`'s ``mark="point"`` for one column, at template cost for a slider."""
    spec = copy.deepcopy(_points_template(x, y, x_title, y_title, height))
    spec["datasets"] = {"points": df[[x, y]].reset_index(drop=True)}
    return spec


def _fill(template: dict, datasets: dict[str, pd.DataFrame], **top: object) -> dict:
    """A copy of a cached spec template with its named datasets (and top-level keys) filled."""
    spec = copy.deepcopy(template)
    spec.update(top)
    spec["datasets"] = datasets
    return spec


# The runs' colours on the live page's charts and in the lab report: the Okabe–Ito palette,
# told apart with any colour vision (its yellow left out: too pale on white). A run keeps its
# colour on every chart of one redraw: each builder is given the same ordered names.
# Streamlit sizes a chart with autosize "fit": the spec's height becomes the whole chart's, so a
# title, axis titles and a legend squeeze the plot (to ~20 px in a 140 px panel). "fit-x" fits the
# width only, and the height is the plot's own: the live page's charts set it.
FIT_WIDTH = {"type": "fit-x", "contains": "padding"}
RUN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def run_color_scale(runs) -> dict:
    """The colour scale of the runs named ``runs`` (in order; a name repeats its first colour)."""
    names = list(dict.fromkeys(runs))
    return {"domain": names, "range": [RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(names))]}


def _set_color_scale(node, scale: dict) -> None:
    """Set the colour scale wherever a spec (in place, a copied template) encodes colour by run."""
    if isinstance(node, dict):
        color = node.get("encoding", {}).get("color")
        if isinstance(color, dict) and color.get("field") == "run":
            color["scale"] = scale
        for child in [*node.get("layer", []), node.get("spec")]:
            _set_color_scale(child, scale)


def _with_target_rule(layers: list, height: int, with_target: bool) -> dict:
    """The layers, with the preset's target (dataset ``target``) as a dashed rule if asked, as a spec."""
    if with_target:
        layers.append(
            alt.Chart(alt.Data(name="target"))
            .mark_rule(strokeDash=[6, 4], color="#d62728")
            .encode(y=alt.Y("target:Q"), tooltip=[alt.Tooltip("target:Q", title="target")])
        )
    return alt.layer(*layers).properties(height=height).to_dict()


@functools.lru_cache(maxsize=8)
def _return_curves_template(height: int, with_target: bool) -> dict:
    line = (
        alt.Chart(alt.Data(name="returns"))
        .mark_line(point=False)
        .encode(
            x=alt.X("global_step:Q", title="environment steps"),
            y=alt.Y("episode_return_mean:Q", title="mean return of the last 20 episodes"),
            color=alt.Color("run:N", title="run", legend=alt.Legend(orient="bottom", columns=2, labelLimit=420)),
            tooltip=[alt.Tooltip("run:N"), alt.Tooltip("global_step:Q", format=","), alt.Tooltip("episode_return_mean:Q", format=".1f")],
        )
    )
    layers = [line]
    return _with_target_rule(layers, height, with_target)


def return_curves_chart(returns: pd.DataFrame, target: float | None = None, *, runs=None, height: int = 220) -> dict:
    """Episode-return curves of one or more runs (columns ``global_step``,
    ``episode_return_mean``, ``run``) with the preset's target as a dashed rule, each run in its
    colour of :data:`RUN_COLORS` named in the legend. ``runs``: the names in colour order (default:
    as they come in ``returns``). A Vega-Lite spec from a cached template: the live page redraws
    it every second."""
    datasets = {"returns": returns[["global_step", "episode_return_mean", "run"]].dropna().reset_index(drop=True)}
    if target is not None:
        datasets["target"] = pd.DataFrame({"target": [float(target)]})
    spec = _fill(_return_curves_template(height, target is not None), datasets, autosize=FIT_WIDTH)
    _set_color_scale(spec, run_color_scale(returns["run"] if runs is None else runs))
    return spec


@functools.lru_cache(maxsize=8)
def _diagnostics_template(columns: int, height: int) -> dict:
    chart = (
        alt.Chart(alt.Data(name="diagnostics"))
        .mark_line()
        .encode(
            x=alt.X("global_step:Q", title="environment steps"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("run:N", legend=None),
            tooltip=[alt.Tooltip("run:N"), alt.Tooltip("metric:N"), alt.Tooltip("global_step:Q", format=","), alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=220, height=height)
        .facet(facet=alt.Facet("metric:N", title=None, sort=None), columns=columns)
        .resolve_scale(y="independent")
    )
    return chart.to_dict()


def diagnostics_chart(long: pd.DataFrame, *, columns: int = 4, height: int = 130, runs=None) -> dict:
    """Small multiples, one per training diagnostic (columns ``global_step``, ``metric``,
    ``value``, ``run``), each with its own y-axis, a run's colour as in :func:`return_curves_chart`.
    A Vega-Lite spec from a cached template (one image: the lab report draws it)."""
    spec = _fill(_diagnostics_template(columns, height), {"diagnostics": long[["global_step", "metric", "value", "run"]].reset_index(drop=True)})
    _set_color_scale(spec, run_color_scale(long["run"] if runs is None else runs))
    return spec


@functools.lru_cache(maxsize=8)
def _diagnostic_panel_template(height: int) -> dict:
    return (
        alt.Chart(alt.Data(name="diagnostic"))
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("global_step:Q", title="environment steps", axis=alt.Axis(tickCount=4, format="~s")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", legend=None),
            tooltip=[alt.Tooltip("run:N"), alt.Tooltip("global_step:Q", format=","), alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=height)
        .to_dict()
    )


def diagnostic_panel_chart(long: pd.DataFrame, metric: str, *, runs=None, height: int = 110) -> dict:
    """One diagnostic of :func:`diagnostics_chart`'s long table (the rows whose ``metric`` is
    ``metric``), every run's series in its colour, titled by the metric: the live page lays
    these out as a grid that wraps with the page's width. A Vega-Lite spec (dataset ``diagnostic``)."""
    rows = long[long["metric"] == metric][["global_step", "value", "run"]].reset_index(drop=True)
    spec = _fill(_diagnostic_panel_template(height), {"diagnostic": rows}, title=metric, autosize=FIT_WIDTH)
    _set_color_scale(spec, run_color_scale(rows["run"] if runs is None else runs))
    return spec


@functools.lru_cache(maxsize=8)
def _seed_spread_template(height: int, with_target: bool) -> dict:
    x = alt.X("global_step:Q", title="environment steps")
    color = alt.Color("run:N", title=None, legend=alt.Legend(orient="bottom", columns=2, labelLimit=420))
    band = (
        alt.Chart(alt.Data(name="spread"))
        .mark_area(opacity=0.22)
        .encode(x=x, y=alt.Y("min:Q", title="mean return of the last 20 episodes"), y2=alt.Y2("max:Q"), color=color)
    )
    seeds = (  # each seed thin and faint: the band's edges are seeds, and a student can follow one
        alt.Chart(alt.Data(name="seeds"))
        .mark_line(strokeWidth=1, opacity=0.35)
        .encode(x=x, y=alt.Y("episode_return_mean:Q"), color=alt.Color("run:N", legend=None), detail=alt.Detail("seed:N"),
                tooltip=[alt.Tooltip("run:N"), alt.Tooltip("seed:N"), alt.Tooltip("global_step:Q", format=","),
                         alt.Tooltip("episode_return_mean:Q", format=".1f")])
    )
    median = (
        alt.Chart(alt.Data(name="spread"))
        .mark_line(strokeWidth=3)
        .encode(x=x, y=alt.Y("median:Q"), color=color,
                tooltip=[alt.Tooltip("run:N"), alt.Tooltip("global_step:Q", format=","), alt.Tooltip("median:Q", format=".1f"),
                         alt.Tooltip("min:Q", format=".1f"), alt.Tooltip("max:Q", format=".1f"), alt.Tooltip("seeds:Q", title="seeds covered")])
    )
    layers = [band, seeds, median]
    return _with_target_rule(layers, height, with_target)


def seed_spread_chart(spread: pd.DataFrame, seeds: pd.DataFrame, target: float | None = None, *, runs=None, height: int = 220) -> dict:
    """A seed spread: per variant (column ``run``) the median return as a thick line over the
    band from the lowest to the highest seed (``spread``: ``global_step``, ``median``, ``min``,
    ``max``, ``seeds``, ``run``, as :func:`ui.spread.seed_spread` gives them per variant), each
    seed's own curve thin beneath (``seeds``: ``global_step``, ``episode_return_mean``, ``run``,
    ``seed``), and the target as a dashed rule; colours as :func:`return_curves_chart`'s."""
    datasets = {
        "spread": spread[["global_step", "median", "min", "max", "seeds", "run"]].reset_index(drop=True),
        "seeds": seeds[["global_step", "episode_return_mean", "run", "seed"]].dropna().reset_index(drop=True),
    }
    if target is not None:
        datasets["target"] = pd.DataFrame({"target": [float(target)]})
    spec = _fill(_seed_spread_template(height, target is not None), datasets, autosize=FIT_WIDTH)
    _set_color_scale(spec, run_color_scale(spread["run"] if runs is None else runs))
    return spec
