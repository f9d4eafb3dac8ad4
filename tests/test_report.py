"""The lab report zip (ui/report.py): built from real short cartpole runs, then taken apart.

Two runs of three updates each train once for the module (about a second); the worker's
``batch_*`` lists are added to the records as the app's worker adds them, so the CSV must drop
them and the clip plots can be drawn. Rendering a chart costs a few tenths of a second.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest

from ppo_core import PRESETS, PPOConfig, PPOTrainer
from ppo_core.advantages import normalize_advantages
from ui import report
from runs.manager import FINISHED, TrainingRun

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHORT = PRESETS["cartpole"].replace(total_steps=3 * PRESETS["cartpole"].batch_size, seed=7)


def train(config: PPOConfig) -> list[dict]:
    trainer = PPOTrainer(config)
    records = []
    for record in trainer.iterate():
        adv = normalize_advantages(trainer.last_batch.advantages).numpy()
        record["batch_ratio"] = trainer.last_ratios[:200].astype(float).tolist()
        record["batch_advantage"] = adv[:200].astype(float).tolist()
        records.append(record)
    trainer.close()
    return records


def page_run(config: PPOConfig, label: str, records: list[dict]) -> TrainingRun:
    """A TrainingRun as the page holds one: config as a dict, preset set after construction."""
    run = TrainingRun(config.to_dict(), label=label, records=records, state=FINISHED)
    run.preset = "cartpole"
    return run


@pytest.fixture(scope="module")
def runs() -> list[TrainingRun]:
    unclipped = SHORT.replace(objective="none", clip_coef=0.3)
    return [
        page_run(SHORT, "#1 cartpole seed 7 (preset)", train(SHORT)),
        page_run(unclipped, "#2 cartpole seed 7 (objective=none, clip_coef=0.3)", train(unclipped)),
    ]


def expected_frame(run: TrainingRun) -> pd.DataFrame:
    rows = [{k: v for k, v in rec.items() if not k.startswith("batch_")} for rec in run.records]
    df = pd.DataFrame(rows)
    df.insert(0, "run", run.label)
    return df


def assert_csv_is_records(data: bytes, run: TrainingRun) -> None:
    got = pd.read_csv(io.BytesIO(data))
    want = expected_frame(run)
    assert list(got.columns) == list(want.columns)
    assert "batch_ratio" not in got.columns
    assert len(got) == len(run.records) == 3
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.verify()
        assert im.format == "PNG" and im.size == (width, height)
    return width, height


def test_one_run_report_holds_csv_config_charts_and_summary(runs):
    run = runs[0]
    data = report.lab_report_zip(run)  # one run, not in a list
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    names = set(zf.namelist())
    assert {"metrics.csv", "config.json", "return.png", "diagnostics.png", "README.md"} <= names
    assert {"clip_positive.png", "clip_negative.png"} <= names  # the records carry the latest batch

    assert_csv_is_records(zf.read("metrics.csv"), run)
    assert zf.read("metrics.csv") == report.metrics_csv(run.records, run.label)

    config = json.loads(zf.read("config.json"))
    assert config == run.config
    assert PPOConfig.from_dict(config) == SHORT

    sizes = {name: png_size(zf.read(name)) for name in names if name.endswith(".png")}
    # scale 2 of a 640 px wide return chart; the diagnostics are four 220 px facets across
    assert sizes["return.png"][0] >= 2 * 640
    assert sizes["diagnostics.png"][0] >= 2 * 4 * 220

    md = zf.read("README.md").decode("utf-8")
    final = run.records[-1]["episode_return_mean"]
    assert "cartpole" in md
    assert "| seed | **7** | 1 |" in md  # this run's seed (changed: bold) beside the preset's
    assert f"{final:.1f}" in md
    assert "Did not reach the target** of 475" in md  # three updates are far from 475
    assert f"| step budget | **{SHORT.total_steps}** | 100,000 |" in md  # three batches (1536), changed from the preset: bold


def test_comparison_has_files_per_run_one_overlay_and_a_table(runs):
    data = report.lab_report_zip(runs, title="Clip or no clip", clip_plots=False, scale=1)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    folders = sorted({n.split("/")[0] for n in names if "/" in n})
    assert len(folders) == 2
    assert folders[0].startswith("run-1_cartpole_seed7") and folders[1].startswith("run-2_cartpole_seed7")
    assert "obj-none" in folders[1] and "eps0.3" in folders[1]
    for folder, run in zip(folders, runs):
        assert_csv_is_records(zf.read(f"{folder}/metrics.csv"), run)
        assert PPOConfig.from_dict(json.loads(zf.read(f"{folder}/config.json"))) == PPOConfig.from_dict(run.config)
    assert {"return.png", "diagnostics.png", "README.md"} <= set(names)
    assert "metrics.csv" not in names and not any(n.endswith("clip_positive.png") for n in names)
    png_size(zf.read("return.png"))
    png_size(zf.read("diagnostics.png"))

    md = zf.read("README.md").decode("utf-8")
    assert md.startswith("# Clip or no clip\n")
    for run in runs:
        assert run.label in md
        assert f"{run.records[-1]['episode_return_mean']:.1f}" in md
    assert "| objective | clipped (L^CLIP) | **no clipping (r·A)** |" in md
    assert md.count("not reached (target 475)") == 2
    max_kl = max(r["approx_kl"] for r in runs[1].records)
    assert f"{max_kl:.4g}" in md


def test_metrics_csv_and_config_json_are_the_page_exports(runs):
    run = runs[0]
    assert report.config_json(run.config) == json.dumps(run.config, indent=2).encode()
    assert report.config_json(PPOConfig.from_dict(run.config)) == json.dumps(run.config, indent=2).encode()
    assert_csv_is_records(report.metrics_csv(run.records, run.label), run)
    assert "run" not in pd.read_csv(io.BytesIO(report.metrics_csv(run.records))).columns


def test_a_run_without_records_is_refused_with_its_label(runs):
    empty = TrainingRun(SHORT.to_dict(), label="#3 cartpole seed 7 (preset)")
    with pytest.raises(ValueError, match=r"#3 cartpole seed 7.*no records"):
        report.lab_report_zip([runs[0], empty])
    with pytest.raises(ValueError, match="no runs"):
        report.lab_report_zip([])


def test_duplicate_labels_are_kept_apart_in_the_charts(runs):
    twin = page_run(SHORT, runs[0].label, runs[0].records)
    md = report.summary_markdown([runs[0], twin])
    assert f"{runs[0].label} [run 2]" in md


def test_steps_to_target_needs_twenty_episodes_at_the_target():
    records = [
        {"global_step": 256, "episodes": 5, "episode_return_mean": 500.0},  # too few episodes yet
        {"global_step": 512, "episodes": 25, "episode_return_mean": 470.0},
        {"global_step": 768, "episodes": 30, "episode_return_mean": 480.0, "approx_kl": 0.02},
        {"global_step": 1024, "episodes": 31, "episode_return_mean": 490.0, "approx_kl": np.nan},
    ]
    assert report.steps_to_target(records, 475.0) == 768
    assert report.steps_to_target(records, 600.0) is None
    out = report.run_outcome(records, 475.0)
    assert out["final_return"] == 490.0 and out["max_approx_kl"] == 0.02 and out["steps_to_target"] == 768


def test_rendering_is_offline(runs):
    spec = report._return_spec(report.metrics_frame(runs[0].records, "a"), 475.0)
    inlined = report.inline_datasets(spec)
    text = json.dumps(inlined, allow_nan=False)  # JSON only: no DataFrames, no NaN
    assert "http" not in text.replace(inlined["$schema"], "")  # the $schema is the only URL
    assert inlined["datasets"]["returns"][0]["run"] == "a"
    with pytest.raises(ValueError, match="not allowed"):
        report.render_png({"data": {"url": "https://example.com/data.csv"}, "mark": "point"})
