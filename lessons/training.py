"""6 · Live training: a preset, its hyperparameters, and a run in its own process, drawn live.

The page reads top to bottom; its parts live in views/: the controls (training_controls), the
buttons and their callbacks (run_controls), the live view (live_view), the downloads and the
upload (exports) and the episode player (player).
"""

from __future__ import annotations

import streamlit as st

from ppo_core import ENVIRONMENTS, PRESETS
from ui.links import Param
from views.lesson_controls import control
from views.links import NOTE_ICON, restore
from views.widgets import predict_then_reveal
from views import classroom, exports, live_view, player, run_controls, session, training_controls

st.title("6 · Live training")
st.markdown(
    "Everything from the earlier pages, running: each update collects a batch, estimates "
    "advantages with GAE, and takes K epochs of minibatch steps on the objective. The run trains "
    "in a process of its own; this page redraws from its latest numbers every second."
)

session.student_token()  # ?me=: whose runs these are (kept in the URL, not in shared links)
if session.token_note():
    st.warning(session.token_note(), icon=NOTE_ICON)
# One row for the preset, the pace and the stop rule, so that after Start the return curve is
# on the first screen of a 1366×768 laptop (issue 13). A class's assignment fixes the preset.
assignment = classroom.student_assignment()  # a class's assignment (views/classroom.py), or None
c1, c2, c3 = st.columns([5, 3, 3], vertical_alignment="bottom")
if assignment is None:
    preset = control(
        Param("train_preset", "cartpole", "choice", choices=tuple(PRESETS), name="preset"), "Preset", "select", where=c1,
        format_func=lambda p: f"{p} — {ENVIRONMENTS[PRESETS[p].env_id].title}, target {PRESETS[p].target_return:g}",
    )
else:
    preset = assignment.preset
live_view.pace_control(where=c2)
control(
    Param("train_stop_at_target", True, "bool", name="stop_at_target"), "Stop when the target is reached", where=c3,
    help="The run ends at its first update whose mean return reaches the target, which frees its "
    "core for the next run in the queue. Off: it trains on to the step budget.",
)
if assignment is not None:
    classroom.show_assignment(assignment)
notes = restore(training_controls.url_params(preset, assignment), show_notes=False)
for note in notes:  # shown outside the collapsed expander, so a bad link is noticed
    st.warning(note, icon=NOTE_ICON)
heading = "Your choices for the assignment" if assignment else "Hyperparameters (defaults are the preset's tuned values)"
with st.expander(heading, expanded=assignment is not None):
    cfg, error = training_controls.draw(preset, assignment)
    if (fixed := training_controls.fixed_settings(preset)) is not None:
        st.caption(fixed)
if error:
    st.error(f"Can't start with these settings — {error}")

# An assignment fixes all but its settings, so the comparisons (which change others) are not offered.
compare = run_controls.compare_panel(cfg, preset, error) if assignment is None else None
active = run_controls.buttons(cfg, preset, compare)
live_view.show(active)
run_controls.your_runs()

st.subheader("Watch the policy play")
w1, w2 = st.columns([1, 2])
deterministic = w1.toggle("Greedy actions (no sampling)", value=False, key="train_greedy")
player.run_player(run_controls.current(), deterministic, button_at=w1, image_at=w2)

exports.model_upload(preset, deterministic)

predict_then_reveal(
    "training",
    "You train cartpole twice with the same seed: once with ε = 0.2, once with 'no clipping'. "
    "Which run shows the larger approx KL per update?",
    ["The clipped run", "The unclipped run", "They are the same: the seed is the same"],
    "The unclipped run",
    "Without the clip, every sample keeps pulling for all K epochs, so the policy moves further "
    "from the one that collected the batch: approx KL and the fraction of ratios outside [1 − ε, 1 + ε] "
    "grow. With the same seed both runs start from the same network and the same first batch, so "
    "the curves part exactly where the clip begins to bind.",
)
