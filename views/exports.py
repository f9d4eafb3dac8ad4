"""What leaves the training page and what comes in: a run's downloads, and a model's upload.

Downloads: the metrics (CSV), the config (JSON), the model (a state dict) and the lab report
(zip) of the run or of the comparison. Upload: a saved model of the chosen preset, checked
(``weights_only``, shapes) before it may play an episode.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from ppo_core import PRESETS
from ppo_core.trainer import agent_for
from runs.manager import TrainingRun
from ui.links import code_span, shown_text
from ui import model_io
from ui.model_io import MAX_CHECKPOINT_BYTES, CheckpointError
from ui.report import config_json, lab_report_zip, metrics_csv, report_file_name
from views import player


def downloads(run: TrainingRun, members: list[TrainingRun]) -> None:
    """Downloads of the run (or the comparison). Drawn inside the live view so they stay current;
    the CSV and the zip are built when clicked (deferred data), not on every redraw."""
    if not run.records:
        return
    st.subheader("Export")
    e1, e2, e3, e4 = st.columns(4)
    e1.download_button("Metrics (CSV)", lambda: metrics_csv(run.records, run.label), file_name=f"ppo-{run.preset}-{run.id}.csv", mime="text/csv", key="train_csv", on_click="ignore")
    e2.download_button("Config (JSON)", config_json(run.config), file_name=f"ppo-{run.preset}-{run.id}.json", mime="application/json", key="train_json", on_click="ignore")
    if run.model_state is not None:
        e3.download_button("Model (PyTorch state dict)", run.model_state, file_name=f"ppo-{run.preset}-{run.id}.pt", key="train_model", on_click="ignore")
    else:
        e3.caption("The model can be saved once the run has stopped or finished.")
    reported = [r for r in members if r.records]
    e4.download_button(
        "Lab report (zip)" if len(reported) == 1 else f"Lab report, {len(reported)} runs (zip)",
        lambda: lab_report_zip(reported), file_name=report_file_name(reported), mime="application/zip",
        key="train_report", on_click="ignore",
        help="Each run's metrics CSV and config JSON, the return and diagnostics charts as PNG images, "
        "and a Markdown summary of the settings and outcomes, in one zip (built when clicked, a few seconds).",
    )


def checked_upload(data: bytes, preset: str) -> tuple[object | None, dict | None, str | None]:
    """(agent, observation statistics, None) for a usable checkpoint, (None, None, why) otherwise.

    The uploader keeps its file across reruns, and every click on the page reruns it: the
    verdict is kept in the session by the file's content hash (and the preset it was checked
    against), so a file is checked once, refused or not."""
    key = (hashlib.sha256(data).hexdigest(), preset)
    kept = st.session_state.get("train_upload_verdict")
    if kept is None or kept[0] != key:
        agent = agent_for(PRESETS[preset])
        try:
            # model_io.load_checkpoint, looked up at each call: the tests count the calls.
            verdict = (agent, model_io.load_checkpoint(data, agent), None)
        except CheckpointError as exc:
            verdict = (None, None, str(exc))
        st.session_state["train_upload_verdict"] = kept = (key, verdict)
    return kept[1]


def model_upload(preset: str, deterministic: bool) -> None:
    """The uploader, its verdict, and the player for a model it accepted."""
    st.subheader("Import a model")
    upload = st.file_uploader(
        f"Load a saved model of the {preset} preset to watch it act (.pt, at most 2 MB)", type=["pt", "pth"], key="train_upload",
        max_upload_size=max(1, MAX_CHECKPOINT_BYTES // 2**20),  # the browser refuses a larger file before sending it
    )
    if upload is None:
        return
    file_name = code_span(shown_text(upload.name))  # a file's name is the uploader's text, not Markdown
    agent, stats, refusal = checked_upload(upload.getvalue(), preset)
    if refusal:
        st.error(f"Can't use {file_name}: {refusal}.")
        return
    st.success(f"Loaded {file_name}: its shapes match the {preset} preset's network.")
    player.loaded_player(PRESETS[preset].to_dict(), agent, stats, deterministic)
