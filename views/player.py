"""One episode of a policy, played by Gymnasium and shown as an animated GIF with its caption.

The training page plays the current run's policy and a model loaded from a file the same way;
each keeps its animation in the session under its own key, so it stays through reruns.
"""

from __future__ import annotations

import io

import streamlit as st

from ppo_core import ENVIRONMENTS, PPOConfig
from ppo_core.lesson import play_episode
from ppo_core.trainer import agent_for
from ui.model_io import load_checkpoint

RUN_KEY, LOADED_KEY = "train_animation", "train_loaded_animation"  # the session's animations
MAX_STEPS = 500  # long enough for a balanced pole, short enough to render in a second or two


def play_gif(config: dict, agent, stats, deterministic: bool) -> dict:
    """One episode rendered by Gymnasium, as an animated GIF in memory (no file left behind),
    with its caption: steps, whether the player's step limit cut the episode, and the return in
    the units of the training curve."""
    from PIL import Image

    cfg = PPOConfig.from_dict(config)
    out = play_episode(cfg, agent, observation_stats=stats, deterministic=deterministic, max_steps=MAX_STEPS, frame_every=2)
    images = [Image.fromarray(f).resize((f.shape[1] // 2, f.shape[0] // 2)) for f in out["frames"]]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    cut = f" (cut short: the environment's own limit is {out['time_limit']})" if out["cut_short"] else ""
    note = ENVIRONMENTS[cfg.env_id].reward_note
    units = f"{note}, as in the return chart" if note else "the environment's own rewards, as in the return chart"
    caption = f"{out['steps']} steps{cut}, return {out['episode_return']:.1f} ({units})"
    return {"gif": buf.getvalue(), "steps": out["steps"], "episode_return": out["episode_return"], "caption": caption}


def show(key: str, where=st) -> None:
    """The animation kept under ``key``, if any, in ``where`` (a column, or the page)."""
    anim = st.session_state.get(key)
    if anim:
        where.image(anim["gif"], caption=anim["caption"])


def run_player(run, deterministic: bool, button_at=st, image_at=st) -> None:
    """Play one episode with the current run's policy (asked of its worker, or the model it
    left), and show the last one played."""
    if button_at.button("Play one episode with the current policy", disabled=run is None, key="train_play"):
        with st.spinner("Playing one episode…"):
            model = run.snapshot(timeout=5.0)
            if model is None:
                st.warning("The run has no policy yet: it is still waiting to start.")
            else:
                agent = agent_for(PPOConfig.from_dict(run.config))
                st.session_state[RUN_KEY] = play_gif(run.config, agent, load_checkpoint(model, agent), deterministic)
    show(RUN_KEY, image_at)


def loaded_player(config: dict, agent, stats, deterministic: bool) -> None:
    """Play one episode with a model loaded from a file, and show the last one played."""
    if st.button("Play one episode with the loaded model", key="train_play_loaded"):
        with st.spinner("Playing one episode…"):
            st.session_state[LOADED_KEY] = play_gif(config, agent, stats, deterministic)
    show(LOADED_KEY)
