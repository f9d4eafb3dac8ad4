"""Lab report: one training run, or a comparison of several, as one zip file.

The zip holds what a student hands in: the metrics (CSV), the config (JSON), the charts the
live training page draws (PNG, rendered here without a browser and without the network), and a
short Markdown summary of the settings and the outcomes.

One run::

    metrics.csv  config.json  return.png  diagnostics.png  README.md
    clip_positive.png  clip_negative.png     (only when the records carry the latest batch)

A comparison of several runs (one folder per run, shared charts at the top)::

    README.md  return.png  diagnostics.png
    run-1_cartpole_seed1/metrics.csv  run-1_cartpole_seed1/config.json  (and its clip plots)
    run-2_cartpole_seed1_obj-none/metrics.csv  ...

The CSV and the JSON are built exactly as the page's own "Metrics (CSV)" and "Config (JSON)"
buttons build them (:func:`metrics_csv`, :func:`config_json`). The charts come from the same
builders in :mod:`ui.charts`; their named datasets are inlined and the spec is rendered by
``vl-convert`` (Vega-Lite compiled and drawn in-process, fonts bundled) with every external URL
refused, so no network is ever used.

No Streamlit in this module. From the page, pass the callable so the zip is built only on a
click (``st.download_button`` runs it on another thread)::

    st.download_button("Lab report (zip)", lambda: lab_report_zip([run]),
                       file_name=report_file_name([run]), mime="application/zip")
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ppo_core import ENVIRONMENTS, PRESETS, RETURN_WINDOW, PPOConfig
from ppo_core.config import settings
from ppo_core.diagnostics import collapse_warning
from ppo_core.trainer import target_reached
from ui.charts import batch_objective_charts, diagnostics_chart, return_curves_chart

__all__ = [
    "DIAGNOSTICS",
    "KEY_SETTINGS",
    "OBJECTIVES",
    "config_json",
    "diagnostics_frame",
    "update_beta",
    "inline_datasets",
    "lab_report_zip",
    "metrics_csv",
    "metrics_frame",
    "render_png",
    "report_file_name",
    "run_outcome",
    "steps_to_target",
    "summary_markdown",
]

# The diagnostics the live page plots, in its order, with its names (lessons/training.py).
DIAGNOSTICS = {
    "policy_loss": "policy loss",
    "value_loss": "value loss",
    "entropy": "entropy",
    "approx_kl": "approx KL",
    "clip_fraction": "clip fraction",
    "explained_variance": "explained variance",
    "learning_rate": "learning rate",
    "kl_beta": "KL penalty β",  # KL-penalty runs: β after each update's adaptive rule
    "std": "policy σ",  # Gaussian policies (one panel per action dimension when there are several)
}
STD_DIMENSION = re.compile(r"std_(\d+)")  # the trainer's σ of action dimension i, beside their mean
# The reader's names of settings and objectives, and the short names in a comparison's folder
# names, all from the settings PPOConfig declares. The settings the training page shows are
# always listed in the settings table; any other field appears when a run changed it.
SETTINGS = settings(PPOConfig)
OBJECTIVES = SETTINGS["objective"].choices
KEY_SETTINGS = {name: s.in_text for name, s in SETTINGS.items() if s.control}
PNG_SCALE = 2
RETURN_CHART_WIDTH = 640  # px before scaling; the page stretches the chart to its column instead


# -- the CSV and the JSON (the page's export buttons) -------------------------------------------
def metrics_frame(records: Iterable[dict], label: str | None = None) -> pd.DataFrame:
    """The records as a table, one row per update, one column per record key, in the trainer's
    order; the per-sample ``batch_*`` lists the worker adds for the clip plot are left out. With
    ``label``, a first column ``run`` holds it (the page's CSV export, and the charts' colour)."""
    df = pd.DataFrame([{k: v for k, v in rec.items() if not k.startswith("batch_")} for rec in records])
    if len(df) and label is not None:
        df.insert(0, "run", label)
    return df


def metrics_csv(records: Iterable[dict], label: str | None = None) -> bytes:
    """The metrics CSV (UTF-8) of :func:`metrics_frame`: what the page's "Metrics (CSV)" button
    downloads when called with ``label=run.label``. Missing values (``None``) are empty cells."""
    return metrics_frame(records, label).to_csv(index=False).encode("utf-8")


def config_json(config: PPOConfig | dict) -> bytes:
    """The config as indented JSON (UTF-8), every PPOConfig field: what the page's "Config
    (JSON)" button downloads. ``PPOConfig.from_dict(json.loads(...))`` gives the config back."""
    data = config.to_dict() if isinstance(config, PPOConfig) else dict(config)
    return json.dumps(data, indent=2).encode("utf-8")


def diagnostics_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` (with a ``run`` column) in the long format of :func:`ui.charts.diagnostics_chart`:
    one row per run, update and diagnostic of :data:`DIAGNOSTICS` (named as the page names them)."""
    dims = [c for c in metrics if STD_DIMENSION.fullmatch(str(c))]
    names = {**DIAGNOSTICS, **{c: f"policy σ, action {int(STD_DIMENSION.fullmatch(c)[1]) + 1}" for c in dims}}
    present = [c for c in DIAGNOSTICS if c in metrics and not (c == "std" and dims)] + dims
    long = metrics.melt(id_vars=["run", "global_step"], value_vars=present, var_name="metric")
    long["metric"] = long["metric"].map(names)
    return long.dropna().reset_index(drop=True)


# -- PNG rendering ------------------------------------------------------------------------------
def inline_datasets(spec: dict) -> dict:
    """A copy of a :mod:`ui.charts` spec whose named datasets (DataFrames, which Streamlit sends
    beside the spec) are inlined as JSON rows; NaN and None become null."""
    out = dict(spec)
    datasets = {}
    for name, data in (spec.get("datasets") or {}).items():
        if isinstance(data, pd.DataFrame):
            datasets[name] = json.loads(data.to_json(orient="records", double_precision=15))
        else:
            datasets[name] = copy.deepcopy(data)
    out["datasets"] = datasets
    return out


def _vegalite_version() -> str | None:
    """The Vega-Lite version Altair writes specs for (e.g. '6.4'), if vl-convert bundles it."""
    import altair as alt
    import vl_convert as vlc

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


def render_png(spec: dict, *, scale: float = PNG_SCALE) -> bytes:
    """A :mod:`ui.charts` spec rendered to PNG bytes, offline.

    The datasets are inlined first (:func:`inline_datasets`). vl-convert compiles and draws the
    chart in-process with its bundled fonts; ``allowed_base_urls=[]`` makes it refuse any
    external data or image URL (the ``$schema`` URL is only an identifier, never fetched).
    ``scale`` multiplies the pixel size (2: sharp on a high-density screen or in print).
    """
    try:
        import vl_convert as vlc
    except ImportError as exc:  # pragma: no cover - a missing requirement
        raise RuntimeError("rendering charts to PNG needs vl-convert-python (see requirements.txt)") from exc
    return vlc.vegalite_to_png(inline_datasets(spec), vl_version=_vegalite_version(), scale=scale, allowed_base_urls=[])


def _return_spec(metrics: pd.DataFrame, target: float | None) -> dict:
    spec = return_curves_chart(metrics, target)
    spec["width"] = RETURN_CHART_WIDTH
    return spec


def _diagnostics_spec(metrics: pd.DataFrame, legend: bool) -> dict:
    spec = diagnostics_chart(diagnostics_frame(metrics))
    if legend:  # several runs: name the colours (the page shows one run, without a legend)
        color = spec.get("spec", {}).get("encoding", {}).get("color")
        if isinstance(color, dict):
            color["legend"] = {"orient": "bottom", "columns": 2, "labelLimit": 420, "title": "run"}
    return spec


def update_beta(record: dict, config: PPOConfig) -> float | None:
    """The β a KL-penalty update trained with (the worker sends it as ``batch_kl_beta``; an older
    record has only ``kl_beta``, the β adapted after it); None for the other objectives."""
    if config.objective != "kl_penalty":
        return None
    return record.get("batch_kl_beta", record.get("kl_beta", config.kl_beta))


def _clip_specs(record: dict, config: PPOConfig) -> dict[str, dict]:
    """The live page's two plots of the latest batch on its run's objective (A > 0, A < 0), as
    specs by file stem."""
    ratio = np.asarray(record.get("batch_ratio") or [], dtype=float)
    adv = np.asarray(record.get("batch_advantage") or [], dtype=float)
    if not len(ratio) or len(ratio) != len(adv):
        return {}
    charts = batch_objective_charts(ratio, adv, config.objective, config.clip_coef, update_beta(record, config))
    return {"clip_positive": charts[1.0], "clip_negative": charts[-1.0]}


# -- outcomes -----------------------------------------------------------------------------------
def steps_to_target(records: Sequence[dict], target: float | None) -> int | None:
    """``global_step`` of the first update after which the mean return of the last 20 episodes
    reached ``target`` (with 20 episodes finished, the trainer's own test); None if never."""
    for rec in records:
        if target_reached(rec.get("episode_return_mean"), rec.get("episodes") or 0, target):
            return int(rec["global_step"])
    return None


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]


def run_outcome(records: Sequence[dict], target: float | None = None) -> dict[str, Any]:
    """The numbers a report states about a run's records (None where the records lack them):
    ``updates``, ``global_step``, ``episodes``, ``final_return`` (mean of the last 20 episodes
    after the last update), ``steps_to_target``, ``max_approx_kl`` and the ``max_kl_update`` it
    happened at, ``final_clip_fraction``, ``wall_s`` (training time, pauses excluded)."""
    last = records[-1] if records else {}
    kls = [(float(r["approx_kl"]), r.get("update")) for r in records if _finite([r.get("approx_kl")])]
    max_kl = max(kls, key=lambda x: x[0]) if kls else (None, None)
    return {
        "updates": last.get("update", len(records)),
        "global_step": last.get("global_step"),
        "episodes": last.get("episodes"),
        "final_return": last.get("episode_return_mean"),
        "target": target,
        "steps_to_target": steps_to_target(records, target),
        "max_approx_kl": max_kl[0],
        "max_kl_update": max_kl[1],
        "final_clip_fraction": last.get("clip_fraction"),
        "wall_s": last.get("wall_s"),
    }


# -- the runs, normalised -----------------------------------------------------------------------
@dataclass
class _Run:
    label: str
    preset: str | None
    preset_guessed: bool
    config: PPOConfig
    config_data: dict  # as given (the page's run.config dict), for config.json
    records: list[dict]
    state: str | None
    message: str
    folder: str = ""

    @property
    def base(self) -> PPOConfig:
        return PRESETS[self.preset] if self.preset in PRESETS else PPOConfig()

    @property
    def target(self) -> float | None:
        if self.config.target_return is not None:
            return self.config.target_return
        return PRESETS[self.preset].target_return if self.preset in PRESETS else None


def _preset_for(config: PPOConfig) -> str | None:
    return next((name for name, p in PRESETS.items() if p.env_id == config.env_id), None)


def _normalise(runs: Any, labels: Sequence[str] | None) -> list[_Run]:
    if not isinstance(runs, (list, tuple)):
        runs = [runs]
    if not runs:
        raise ValueError("lab report: no runs given")
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"lab report: {len(labels)} labels for {len(runs)} runs")
    out, seen = [], set()
    for i, run in enumerate(runs, start=1):
        raw = getattr(run, "config", None)
        if isinstance(raw, PPOConfig):
            config, data = raw, raw.to_dict()
        elif isinstance(raw, dict):
            config, data = PPOConfig.from_dict(raw), dict(raw)
        else:
            raise TypeError(f"lab report: run {i} has no config (a PPOConfig or its dict)")
        label = (labels[i - 1] if labels is not None else getattr(run, "label", "")) or f"run {i}"
        if label in seen:  # the charts colour by label: keep runs apart
            label = f"{label} [run {i}]"
        seen.add(label)
        records = list(getattr(run, "records", None) or [])  # a copy: the page may append meanwhile
        if not records:
            raise ValueError(
                f"lab report: run {i} ({label}) has no records yet; a report needs at least one "
                "finished update (start the run, or step it once)"
            )
        preset = getattr(run, "preset", None)
        guessed = preset not in PRESETS
        if guessed:
            preset = _preset_for(config)
        out.append(_Run(label, preset, guessed, config, data, records, getattr(run, "state", None), getattr(run, "message", "") or ""))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, (tuple, list)):
        return " × ".join(str(v) for v in value) if value else "()"
    return str(value)


def _setting(name: str, value: Any) -> str:
    return OBJECTIVES.get(value, value) if name == "objective" else _fmt(value)


def _changed(run: _Run) -> list[str]:
    """PPOConfig fields the run set differently from its preset (target_return aside)."""
    base = run.base
    return [
        f.name for f in dataclasses.fields(PPOConfig)
        if f.name != "target_return" and getattr(run.config, f.name) != getattr(base, f.name)
    ]


def _folder(i: int, run: _Run) -> str:
    parts = [run.preset or run.config.env_id, f"seed{run.config.seed}"]
    for name in _changed(run):
        if name in ("seed", "stop_at_target"):  # the seed is named above; stopping changes no result
            continue
        value = getattr(run.config, name)
        parts.append(f"{SETTINGS[name].short or name}{_fmt(value) if not isinstance(value, str) else value}")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "", "_".join(parts).replace(",", ""))[:60].strip("._-")
    return f"run-{i}_{slug}"


# -- the Markdown summary -----------------------------------------------------------------------
def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _env_name(config: PPOConfig) -> str:
    spec = ENVIRONMENTS.get(config.env_id)
    return f"{config.env_id} ({spec.title})" if spec is not None and getattr(spec, "title", None) else config.env_id


def _setting_names(runs: list[_Run]) -> list[str]:
    """KEY_SETTINGS, then any field some run changed from its preset, in PPOConfig's order."""
    extra = {name for run in runs for name in _changed(run)} - set(KEY_SETTINGS)
    return list(KEY_SETTINGS) + [f.name for f in dataclasses.fields(PPOConfig) if f.name in extra]


def _outcome_sentences(run: _Run, out: dict) -> list[str]:
    lines = []
    target, done = out["target"], out["global_step"] or 0
    if target is None:
        lines.append("This configuration has no target return.")
    elif out["steps_to_target"] is not None:
        lines.append(
            f"**Reached the target** (mean return ≥ {target:g} over the last {RETURN_WINDOW} episodes) "
            f"after {out['steps_to_target']:,} environment steps."
        )
    else:
        lines.append(
            f"**Did not reach the target** of {target:g} in the {done:,} steps recorded "
            f"(budget {run.config.total_steps:,})."
        )
    if out["final_return"] is None:
        lines.append("No episode finished yet, so there is no mean return.")
    else:
        window = min(out["episodes"] or RETURN_WINDOW, RETURN_WINDOW)
        lines.append(
            f"Final mean return: **{out['final_return']:.1f}** over the last {window} episodes, "
            f"after {out['updates']} updates and {done:,} steps ({out['episodes']} episodes in all)."
        )
    if out["max_approx_kl"] is not None:
        clip = out["final_clip_fraction"]
        lines.append(
            f"Largest approx KL of an update: {out['max_approx_kl']:.4g} (update {out['max_kl_update']}); "
            f"clip fraction in the last update: {'—' if clip is None else f'{clip:.3f}'}."
        )
    collapsed = collapse_warning(run.records)
    if collapsed:
        lines.append(f"**Warning.** {collapsed}")
    if out["wall_s"] is not None:
        lines.append(f"Training time: {out['wall_s']:.1f} s (pauses excluded).")
    if run.state:
        lines.append(f"Run state when the report was made: {run.state}" + (f" — {run.message}" if run.message else "") + ".")
    return lines


def _files_section(runs: list[_Run], extra: dict[str, list[str]]) -> list[str]:
    lines = ["## Files", ""]
    if len(runs) == 1:
        lines += [
            "- `metrics.csv`: one row per update, the numbers the trainer recorded.",
            "- `config.json`: every setting; `PPOConfig.from_dict(json.load(f))` rebuilds it.",
            "- `return.png`: mean return of the last 20 episodes over environment steps; the dashed line is the target.",
            "- `diagnostics.png`: losses, entropy, approx KL, clip fraction, explained variance and learning rate per update.",
        ]
        if extra.get(""):
            lines.append("- `clip_positive.png`, `clip_negative.png`: the latest batch on the clipped objective, for A > 0 and A < 0.")
    else:
        lines += [
            "- `return.png`: every run's mean return of the last 20 episodes, overlaid.",
            "- `diagnostics.png`: every run's training diagnostics, overlaid (colours as in `return.png`).",
        ]
        for run in runs:
            more = ", clip plots" if extra.get(run.folder) else ""
            lines.append(f"- `{run.folder}/`: `metrics.csv` and `config.json`{more} of {run.label}.")
    return lines


def summary_markdown(runs: Any, *, title: str | None = None, labels: Sequence[str] | None = None) -> str:
    """The report's README.md: a settings table (the key hyperparameters and every setting a run
    changed from its preset) and the outcomes, for one run or side by side for several. ``runs``
    as for :func:`lab_report_zip`."""
    return _summary(_prepare(runs, labels), title, {})


def _prepare(runs: Any, labels: Sequence[str] | None) -> list[_Run]:
    norm = _normalise(runs, labels)
    for i, run in enumerate(norm, start=1):
        run.folder = "" if len(norm) == 1 else _folder(i, run)
    return norm


def _default_title(runs: list[_Run]) -> str:
    if len(runs) == 1:
        r = runs[0]
        return f"PPO lab report: {r.preset or r.config.env_id}, seed {r.config.seed}"
    presets = sorted({r.preset or r.config.env_id for r in runs})
    return f"PPO lab report: {len(runs)} runs compared ({', '.join(presets)})"


def _summary(runs: list[_Run], title: str | None, extra: dict[str, list[str]]) -> str:
    made = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"# {title or _default_title(runs)}", "", f"Made {made} by the PPO course app.", ""]
    outcomes = [run_outcome(r.records, r.target) for r in runs]
    names = _setting_names(runs)
    if len(runs) == 1:
        run, out = runs[0], outcomes[0]
        base = run.base
        preset_text = run.preset or "none"
        if run.preset and run.preset_guessed:
            preset_text += " (from the environment)"
        lines += [f"Run: {run.label}", "", "## Settings", ""]
        lines += [f"Preset: **{preset_text}** · environment: {_env_name(run.config)}", ""]
        rows = []
        for name in names:
            value, default = getattr(run.config, name), getattr(base, name)
            shown = _setting(name, value)
            rows.append([SETTINGS[name].in_text, f"**{shown}**" if value != default else shown, _setting(name, default)])
        lines += _table(["setting", "this run", "preset default"], rows)
        lines += ["", "Bold: changed from the preset.", "", "## Outcomes", ""]
        lines += [f"- {s}" for s in _outcome_sentences(run, out)]
    else:
        ids = [f"run {i}" for i in range(1, len(runs) + 1)]
        lines += ["## Runs", ""]
        lines += [f"- **{i}**: {r.label} — preset {r.preset or 'none'}, environment {_env_name(r.config)}" for i, r in zip(ids, runs)]
        lines += ["", "## Settings", ""]
        rows = [["preset", *[r.preset or "none" for r in runs]]]
        for name in names:
            values = [getattr(r.config, name) for r in runs]
            row = [SETTINGS[name].in_text]
            for r, v in zip(runs, values):
                shown = _setting(name, v)
                row.append(f"**{shown}**" if v != getattr(r.base, name) else shown)
            rows.append(row)
        lines += _table(["setting", *ids], rows)
        lines += ["", "Bold: changed from the run's preset.", "", "## Outcomes", ""]
        rows = []
        for i, r, out in zip(ids, runs, outcomes):
            stt = out["steps_to_target"]
            target = "no target" if out["target"] is None else (f"{stt:,}" if stt is not None else "not reached")
            rows.append([
                i,
                "—" if out["final_return"] is None else f"{out['final_return']:.1f}",
                target if out["target"] is None else f"{target} (target {out['target']:g})",
                "—" if out["max_approx_kl"] is None else f"{out['max_approx_kl']:.4g}",
                "—" if out["final_clip_fraction"] is None else f"{out['final_clip_fraction']:.3f}",
                "—" if out["wall_s"] is None else f"{out['wall_s']:.1f} s",
                f"{out['global_step'] or 0:,}",
                r.state or "—",
            ])
        lines += _table(
            ["run", f"final mean return (last {RETURN_WINDOW} ep.)", "steps to target", "max approx KL",
             "clip fraction at end", "training time", "steps done", "state"],
            rows,
        )
        reached = [(out["steps_to_target"], i) for i, out in zip(ids, outcomes) if out["steps_to_target"] is not None]
        lines.append("")
        if reached:
            steps, first = min(reached)
            lines.append(f"Fastest to its target: {first}, after {steps:,} steps.")
        else:
            lines.append("No run reached its target in the steps recorded.")
        for i, r in zip(ids, runs):
            collapsed = collapse_warning(r.records)
            if collapsed:
                lines += ["", f"**Warning, {i}.** {collapsed}"]
        if len({r.config.env_id for r in runs}) > 1:
            lines += ["", "The runs train on different environments: their returns are on different scales."]
    lines += ["", *_files_section(runs, extra), ""]
    return "\n".join(lines)


# -- the zip ------------------------------------------------------------------------------------
def lab_report_zip(
    runs: Any,
    *,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    clip_plots: bool = True,
    scale: float = PNG_SCALE,
) -> bytes:
    """The lab report of one run, or a comparison of several, as zip bytes.

    ``runs``: one run or a list of them; a run is any object with ``.config`` (a
    :class:`~ppo_core.PPOConfig` or its ``to_dict()``, as :class:`runs.manager.TrainingRun` holds it)
    and ``.records`` (the trainer's metric dicts, one per update), and optionally ``.label``,
    ``.preset`` (a key of ``PRESETS``; guessed from the environment when missing), ``.state`` and
    ``.message``. The page's ``TrainingRun`` objects qualify as they are. ``labels`` overrides
    the runs' labels (one per run). ``title`` heads the summary (default: preset and seed, or the
    number of runs compared). With ``clip_plots``, a run whose last record carries the latest
    batch (``batch_ratio``, ``batch_advantage``: the app's worker adds them) also gets the page's
    two clip plots. ``scale``: PNG pixel density.

    Raises ``ValueError`` for no runs or a run without records, ``TypeError`` for a run
    without a config.
    """
    norm = _prepare(runs, labels)
    metrics = [metrics_frame(r.records, r.label) for r in norm]
    files: dict[str, bytes] = {}
    extra: dict[str, list[str]] = {}
    for run in norm:
        prefix = f"{run.folder}/" if run.folder else ""
        files[prefix + "metrics.csv"] = metrics_csv(run.records, run.label)
        files[prefix + "config.json"] = config_json(run.config_data)
        if clip_plots:
            for stem, spec in _clip_specs(run.records[-1], run.config).items():
                files[f"{prefix}{stem}.png"] = render_png(spec, scale=scale)
                extra.setdefault(run.folder, []).append(stem)
    targets = {r.target for r in norm}
    target = targets.pop() if len(targets) == 1 else None
    together = pd.concat(metrics, ignore_index=True)
    several = len(norm) > 1
    files["return.png"] = render_png(_return_spec(together, target), scale=scale)
    files["diagnostics.png"] = render_png(_diagnostics_spec(together, several), scale=scale)
    files["README.md"] = _summary(norm, title, extra).encode("utf-8")

    order = ["README.md", "return.png", "diagnostics.png"]
    names = order + sorted(n for n in files if n not in order)
    buf = io.BytesIO()
    stamp = _dt.datetime.now().timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


def report_file_name(runs: Any) -> str:
    """A download name in the page's style: ``ppo-<preset>-<id>-report.zip`` for one run,
    ``ppo-<preset>-comparison-<n>-runs.zip`` for several."""
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    presets = sorted({str(getattr(r, "preset", None) or "run") for r in runs})
    name = presets[0] if len(presets) == 1 else "mixed"
    if len(runs) == 1:
        rid = getattr(runs[0], "id", None)
        return f"ppo-{name}-{rid}-report.zip" if rid else f"ppo-{name}-report.zip"
    return f"ppo-{name}-comparison-{len(runs)}-runs.zip"
