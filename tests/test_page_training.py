"""AppTest of the live-training page: the buttons drive a real run in a worker process.

AppTest has no browser timer, so the page's polling fragment (run_every=1 s) runs only when the
test calls ``at.run()``; ``wait_until`` does that every half second. Each rerun is also the run's
heartbeat: the scheduler's watchdog stops runs not polled for 6 s, so no wait here is longer.
The scheduler is an ``st.cache_resource``, shared by every AppTest of this pytest process (at most
``os.cpu_count()`` runs at once, one warm spare worker); each test stops its runs when it ends.

The uploader is driven through AppTest's ``file_uploader(...).upload`` (Streamlit 1.67 supports
it), and ``ui.model_io.load_checkpoint`` is tested directly as well.
"""

from __future__ import annotations

import io
import os
import pickle
import time

import numpy as np
import pytest
import torch

from conftest import chart_datasets
from ppo_core import PRESETS, PPOTrainer
from ppo_core.trainer import agent_for
from runs.manager import get_scheduler
from ui.model_io import MAX_CHECKPOINT_BYTES, CheckpointError, checkpoint_bytes, load_checkpoint

PAGE = "lessons/training.py"
CARTPOLE = PRESETS["cartpole"]
BATCH = CARTPOLE.batch_size  # 512 environment steps per update
START_TIMEOUT_S = 120  # a cold worker (spawned interpreter importing torch) is slow on a busy machine
HYPERPARAMETERS = (
    "clip_coef", "objective", "learning_rate", "seed", "gamma", "gae_lambda", "ent_coef",
    "total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches",
)


# -- helpers ----------------------------------------------------------------------------------
def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (read from /proc, Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def shown(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def state(at) -> str | None:
    return shown(at).get("State")


def steps_done(at) -> int:
    return int(shown(at)["Steps done"].replace(",", ""))


def runs(at) -> list:
    return list(at.session_state["train_runs"]) if "train_runs" in at.session_state else []


def the_run(at):
    current = at.session_state["train_current"] if "train_current" in at.session_state else None
    return next((r for r in runs(at) if r.id == current), None)


def disabled(at) -> dict[str, bool]:
    return {b.key: b.disabled for b in at.button if b.key and b.key.startswith("train_")}


def wait_until(at, condition, what: str, timeout: float = START_TIMEOUT_S, every: float = 0.5):
    """Rerun the page (the fragment's timer tick) until ``condition(at)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if condition(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}; the page shows {shown(at)}, errors {[e.value for e in at.error]}")
        time.sleep(every)


def settle(at, interval: float = 1.5, timeout: float = 30.0) -> int:
    """Steps done once two reruns ``interval`` apart agree (an update in flight may still land)."""
    deadline = time.monotonic() + timeout
    last = steps_done(at.run())
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = steps_done(at.run())
        if now == last:
            return now
        last = now
    raise AssertionError(f"steps kept changing for {timeout:.0f} s while paused: {shown(at)}")


def set_widget(at, preset: str, name: str, value):
    key = f"train_{preset}_{name}"
    for kind in (at.slider, at.number_input, at.selectbox):
        found = [w for w in kind if w.key == key]
        if found:
            found[0].set_value(value)
            return at.run()
    raise KeyError(key)


def widget_values(at, preset: str) -> dict:
    out = {}
    for kind in (at.slider, at.number_input, at.selectbox):
        for w in kind:
            if w.key and w.key.startswith(f"train_{preset}_"):
                out[w.key.removeprefix(f"train_{preset}_")] = w.value
    return out


@pytest.fixture
def at(open_page):
    app = open_page(PAGE)
    assert not app.exception
    yield app
    for run in runs(app):  # leave no worker behind for the next test
        run.stop()
        assert run.pid is None


def test_the_page_names_the_presets_settings_that_have_no_control(at):
    def fixed():
        return [c.value for c in at.caption if c.value.startswith("Also set by this preset")]

    assert fixed() == []  # cartpole changes only settings that have a control
    at.selectbox(key="train_preset").set_value("mountaincar-continuous").run()
    assert fixed() == [
        "Also set by this preset (not changeable here): initial log σ: -1; gSDE noise drawn every (steps; 0: once per "
        "rollout): 0; normalise observations: on; normalise rewards: on."
    ]
    at.selectbox(key="train_preset").set_value("pendulum").run()
    assert fixed() == ["Also set by this preset (not changeable here): normalise rewards: on."]


# -- the buttons ------------------------------------------------------------------------------
def test_before_any_run_only_start_and_step_are_enabled(at):
    assert "press **Start**" in at.info[0].value
    assert "State" not in shown(at)
    assert disabled(at) == {
        "train_start": False, "train_pause": True, "train_step": False, "train_resume": True,
        "train_stop": True, "train_reset": True, "train_play": True, "train_compare": False, "train_spread": False,
    }
    assert widget_values(at, "cartpole") == {
        "clip_coef": CARTPOLE.clip_coef, "objective": CARTPOLE.objective, "learning_rate": CARTPOLE.learning_rate,
        "seed": CARTPOLE.seed, "gamma": CARTPOLE.gamma, "gae_lambda": CARTPOLE.gae_lambda, "ent_coef": CARTPOLE.ent_coef,
        "total_steps": CARTPOLE.total_steps, "num_envs": CARTPOLE.num_envs, "num_steps": CARTPOLE.num_steps,
        "update_epochs": CARTPOLE.update_epochs, "num_minibatches": CARTPOLE.num_minibatches,
    }


def test_start_trains_to_the_budget_and_finishes(at):
    set_widget(at, "cartpole", "total_steps", 10 * BATCH)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert state(at) == "training" or state(at).startswith("waiting for a free core")
    assert disabled(at)["train_start"] and not disabled(at)["train_stop"] and disabled(at)["train_resume"]
    run = the_run(at)
    assert run is not None and run.config["total_steps"] == 10 * BATCH and run.label.startswith("#1 cartpole seed 1")
    assert run.config["stop_at_target"] is True  # the page's default: a run frees its core at the target
    wait_until(at, lambda a: state(a) == "finished", "the run to finish")
    steps = [r["global_step"] for r in run.records]
    assert steps == [BATCH * (i + 1) for i in range(10)]  # one record per update, none lost
    assert shown(at)["Steps done"] == f"{10 * BATCH:,}"
    assert "step budget ran out before the target" in at.warning[0].value  # 10 updates cannot reach 475
    assert run.pid is None and run.model_state is not None
    assert not disabled(at)["train_start"] and disabled(at)["train_stop"]
    # the return chart carries the run's records (the diagnostics' panels and the two batch plots follow it)
    (spec, frames), *rest = chart_datasets(at)
    returns = next(f for f in frames if "episode_return_mean" in f)
    expected = [(r["global_step"], r["episode_return_mean"]) for r in run.records if r["episode_return_mean"] is not None]
    assert list(returns["global_step"]) == [s for s, _ in expected]
    assert list(returns["episode_return_mean"]) == pytest.approx([r for _, r in expected])
    assert [spec.get("title") for spec, _ in rest] == [
        "policy loss", "value loss", "entropy", "approx KL", "clip fraction", "explained variance", "learning rate",
        f"Â > 0: L^CLIP (ε = {CARTPOLE.clip_coef:.2f})", f"Â < 0: L^CLIP (ε = {CARTPOLE.clip_coef:.2f})",
    ]
    assert {b.label for b in at.get("download_button")} == {"Metrics (CSV)", "Config (JSON)", "Model (PyTorch state dict)", "Lab report (zip)"}


def test_pause_holds_step_adds_one_update_resume_continues_stop_ends_the_worker(at):
    at.button(key="train_start").click().run()
    run = the_run(at)
    wait_until(at, lambda a: steps_done(a) > 0, "the first update")
    pid = run.pid
    assert pid is not None and process_alive(pid)

    at.button(key="train_pause").click().run()
    assert state(at) == "paused"
    assert disabled(at)["train_pause"] and not disabled(at)["train_resume"] and not disabled(at)["train_step"]
    held = settle(at)
    time.sleep(3.0)
    assert steps_done(at.run()) == held, "a paused run kept training"
    time.sleep(2.0)
    assert steps_done(at.run()) == held, "a paused run kept training"
    assert state(at) == "paused"

    at.button(key="train_step").click().run()
    wait_until(at, lambda a: steps_done(a) != held, "the single update")
    assert steps_done(at) == held + BATCH
    time.sleep(2.5)
    assert steps_done(at.run()) == held + BATCH, "Step ran more than one update"
    assert state(at) == "paused"

    at.button(key="train_resume").click().run()
    assert state(at) == "training"
    wait_until(at, lambda a: steps_done(a) >= held + 3 * BATCH, "training to go on after Resume")

    at.button(key="train_stop").click().run()
    assert state(at) == "stopped"
    # Its worker no longer trains it: ended, or waiting in the server's pool for the next run.
    assert run.pid is None and (not process_alive(pid) or pid in get_scheduler().idle_worker_pids()), f"worker {pid} still running after Stop"
    assert run.model_state is not None  # the worker sent its policy before exiting
    steps = [r["global_step"] for r in run.records]
    assert steps == [BATCH * (i + 1) for i in range(len(steps))]
    assert not disabled(at)["train_start"] and disabled(at)["train_pause"] and disabled(at)["train_resume"]
    time.sleep(1.5)
    assert steps_done(at.run()) == steps[-1]


def test_a_comparison_runs_both_variants_on_the_same_seed_and_reads_the_difference(at):
    set_widget(at, "cartpole", "total_steps", 4 * BATCH)
    at.button(key="train_compare").click().run()  # default: clipped vs no clipping
    assert not at.exception
    clipped, unclipped = runs(at)
    assert (clipped.config["objective"], unclipped.config["objective"]) == ("clip", "none")
    assert clipped.group == unclipped.group and clipped.group is not None
    differs = {k for k in clipped.config if clipped.config[k] != unclipped.config[k]}
    assert differs == {"objective"}, differs  # same seed, same everything else
    assert disabled(at)["train_start"] and disabled(at)["train_compare"] and not disabled(at)["train_stop"]
    wait_until(at, lambda a: all(r.state == "finished" for r in runs(a)), "both runs to finish")
    # the same seed gives the same first batch: the first update's steps and returns agree
    assert clipped.records[0]["global_step"] == unclipped.records[0]["global_step"] == BATCH
    assert clipped.records[0]["episode_return_mean"] == unclipped.records[0]["episode_return_mean"]
    reading = next(m.value for m in at.markdown if "**no clipping**" in m.value)
    assert f"**clipped, ε = {CARTPOLE.clip_coef:g}** not at 475 after {4 * BATCH:,} of {4 * BATCH:,} steps" in reading
    max_kl = max(r["approx_kl"] for r in unclipped.records)
    assert f"max KL {max_kl:.3f}" in reading
    (spec, frames), *_ = chart_datasets(at)
    returns = next(f for f in frames if "episode_return_mean" in f)
    # named by what differs (issue 13), no longer by the runs' labels
    assert set(returns["run"]) == {f"clipped, ε = {CARTPOLE.clip_coef:g}", "no clipping"}
    assert "Lab report, 2 runs (zip)" in {b.label for b in at.get("download_button")}


def test_stop_ends_every_run_of_a_comparison(at):
    at.button(key="train_compare").click().run()
    wait_until(at, lambda a: all(r.state in ("running", "queued") for r in runs(a)) and len(runs(a)) == 2, "the comparison to start")
    at.button(key="train_stop").click().run()
    assert {r.state for r in runs(at)} == {"stopped"}
    assert all(r.pid is None for r in runs(at))
    # After Reset the next comparison is a group of its own: its id is never an earlier one's
    # (numbered by the runs' count it was "cmp1" again, which a seed spread's plan would inherit).
    first_group = runs(at)[0].group
    at.button(key="train_reset").click().run()
    at.button(key="train_compare").click().run()
    wait_until(at, lambda a: len(runs(a)) == 2, "the second comparison to start")
    assert {r.group for r in runs(at)} != {first_group} and len({r.group for r in runs(at)}) == 1
    at.button(key="train_stop").click().run()


def test_step_without_a_run_starts_one_paused_after_one_update(at):
    at.button(key="train_step").click().run()
    assert state(at) in ("paused",) or state(at).startswith("waiting for a free core")
    wait_until(at, lambda a: steps_done(a) > 0, "the single update")
    assert steps_done(at) == BATCH and state(at) == "paused"
    time.sleep(2.5)
    assert steps_done(at.run()) == BATCH
    at.button(key="train_step").click().run()
    wait_until(at, lambda a: steps_done(a) > BATCH, "the second single update")
    assert steps_done(at) == 2 * BATCH


def test_runs_beyond_the_cap_queue_and_start_when_a_core_frees(open_page):
    """Every core busy: the next Start queues, a queued Step still takes exactly one update."""
    sessions = []

    def poll_all():  # the timer tick of every session with a live run: the heartbeat that keeps it
        for s in sessions:
            if the_run(s) is not None and the_run(s).active:
                s.run()
                assert not s.exception, s.exception

    def open_training():
        """The page with 'stop at the target' off: its run keeps its core until stopped (a
        cartpole run reaches 475 in seconds)."""
        at = open_page(PAGE)
        at.toggle(key="train_stop_at_target").set_value(False).run()
        return at

    try:
        first = open_training()
        sessions.append(first)
        first.button(key="train_start").click().run()
        cap = the_run(first)._scheduler.max_running
        for _ in range(cap - 1):
            sessions.append(open_training())
            sessions[-1].button(key="train_start").click().run()
        busy = sessions[:]
        assert all(the_run(s).state == "running" for s in busy), [state(s) for s in busy]
        waiting, stepping = open_training(), open_training()
        sessions += [waiting, stepping]
        waiting.button(key="train_start").click().run()
        stepping.button(key="train_step").click().run()
        assert state(waiting) == "waiting for a free core (position 1 in the queue)"
        assert state(stepping) == "waiting for a free core (position 2 in the queue)"
        time.sleep(2.0)
        poll_all()
        assert steps_done(waiting) == 0 and steps_done(stepping) == 0
        assert the_run(waiting).pid is None and the_run(stepping).pid is None  # no process while queued

        busy[0].button(key="train_stop").click().run()  # a core frees: the first in the queue starts
        assert state(busy[0]) == "stopped"
        deadline = time.monotonic() + START_TIMEOUT_S
        while steps_done(waiting) == 0:
            assert time.monotonic() < deadline, f"the queued run did not start: {shown(waiting)}"
            time.sleep(0.5)
            poll_all()
        assert state(waiting) == "training"
        assert state(stepping) == "waiting for a free core (position 1 in the queue)"

        for s in busy[1:]:
            s.button(key="train_stop").click().run()
        deadline = time.monotonic() + START_TIMEOUT_S
        while steps_done(stepping) == 0:
            assert time.monotonic() < deadline, f"the queued Step never ran: {shown(stepping)}"
            time.sleep(0.5)
            poll_all()
        assert state(stepping) == "paused" and steps_done(stepping) == BATCH
        time.sleep(2.0)
        poll_all()
        assert steps_done(stepping) == BATCH
    finally:
        for s in sessions:
            for run in runs(s):
                run.stop()


def test_reset_forgets_the_run_and_restores_the_preset_defaults(at):
    set_widget(at, "cartpole", "clip_coef", 0.3)
    set_widget(at, "cartpole", "learning_rate", 0.001)
    set_widget(at, "cartpole", "num_envs", 4)
    assert widget_values(at, "cartpole")["clip_coef"] == 0.3
    at.button(key="train_start").click().run()
    run = the_run(at)
    assert run.config["clip_coef"] == 0.3 and run.config["num_envs"] == 4
    assert "clip_coef=0.3" in run.label and "num_envs=4" in run.label
    wait_until(at, lambda a: steps_done(a) > 0, "the first update")
    pid = run.pid

    at.button(key="train_reset").click().run()
    assert not at.exception
    assert "State" not in shown(at) and "press **Start**" in at.info[0].value
    assert runs(at) == [] and the_run(at) is None
    assert not process_alive(pid) or pid in get_scheduler().idle_worker_pids(), f"worker {pid} still running after Reset"
    defaults = widget_values(at, "cartpole")
    assert defaults["clip_coef"] == CARTPOLE.clip_coef
    assert defaults["learning_rate"] == CARTPOLE.learning_rate
    assert defaults["num_envs"] == CARTPOLE.num_envs
    assert disabled(at)["train_reset"] and not disabled(at)["train_start"]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"num_minibatches": 300}, "num_minibatches"),  # more than half of the 512-sample batch
        ({"total_steps": 1000, "num_steps": 256}, "total_steps"),  # 16 × 256 = 4096 > 1000: not one batch
    ],
)
def test_invalid_hyperparameters_name_the_field_and_start_nothing(at, changes, field):
    for name, value in changes.items():
        set_widget(at, "cartpole", name, value)
    assert not at.exception
    assert len(at.error) == 1 and field in at.error[0].value and at.error[0].value.startswith("Can't start with these settings")
    assert disabled(at)["train_start"] and disabled(at)["train_step"]
    assert runs(at) == [] and "State" not in shown(at)


def test_a_diverging_run_reports_it_and_stops_itself(at):
    # Pendulum's Gaussian policy with the largest learning rate and entropy weight the page
    # allows: the entropy bonus drives log σ up by ~lr per Adam step, σ overflows float32 in the
    # second update and the loss is NaN (seeds 1-5 all diverge at update 2).
    at.selectbox(key="train_preset").set_value("pendulum").run()
    set_widget(at, "pendulum", "learning_rate", 1.0)
    set_widget(at, "pendulum", "ent_coef", 1.0)
    set_widget(at, "pendulum", "total_steps", 5 * PRESETS["pendulum"].batch_size)
    at.button(key="train_start").click().run()
    run = the_run(at)
    wait_until(at, lambda a: state(a) != "training" and not state(a).startswith("waiting"), "the run to end")
    assert state(at) == "stopped itself", [e.value for e in at.error]
    assert run.state == "diverged"
    message = at.error[0].value
    assert message.startswith("The run diverged and stopped itself") and "nan" in message and "learning_rate" in message
    assert run.pid is None
    assert not disabled(at)["train_start"]


def test_polling_a_stopped_run_never_blocks_on_a_message_cut_short():
    """A worker ended by terminate() can leave half a message in its pipe; the page's next poll
    must not wait for the rest (the server's process also holds the write end: no EOF comes)."""
    import multiprocessing as mp
    import struct
    import threading

    from runs.manager import RUNNING, TrainingRun

    ctx = mp.get_context("spawn")
    run = TrainingRun(CARTPOLE.to_dict(), label="cut short")
    worker = ctx.Process(target=time.sleep, args=(60,), daemon=True)  # a worker that ignores "stop"
    worker.start()
    run._process, run._records, run._commands, run.state = worker, ctx.Queue(), ctx.Queue(), RUNNING
    records = run._records
    run.stop(timeout=0.5)  # it does not answer: terminated
    assert run.state == "stopped" and not worker.is_alive()
    os.write(records._writer.fileno(), struct.pack("!i", 10_000) + b"x" * 100)  # what it was writing
    done = threading.Event()
    threading.Thread(target=lambda: (run.poll(), done.set()), daemon=True).start()
    assert done.wait(5.0), "poll() blocked reading a dead worker's half-written message"


# -- the checkpoint: model_io directly, then the page's uploader ---------------------------------
class NotATensor:
    def __init__(self):
        self.weights = [1.0, 2.0]


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def bad_files() -> list:
    """(file name, bytes, words the refusal must contain) for each kind of bad upload."""
    small = agent_for(CARTPOLE.replace(hidden_sizes=(32, 32))).state_dict()
    acrobot = agent_for(PRESETS["acrobot"]).state_dict()
    renamed = {f"x.{k}": v for k, v in agent_for(CARTPOLE).state_dict().items()}
    return [
        pytest.param("object.pt", torch_bytes(NotATensor()), "objects other than tensors (test_page_training.NotATensor)", id="pickled-object"),
        pytest.param("lists.pt", pickle.dumps({"actor.0.weight": [[1.0, 2.0]]}), "not a PyTorch checkpoint", id="plain-pickle"),
        pytest.param("cut.pt", checkpoint_bytes(agent_for(CARTPOLE).state_dict())[:5000], "not a PyTorch checkpoint", id="truncated"),
        pytest.param("dict.pt", torch_bytes({"actor.0.weight": [1.0, 2.0]}), "not a state dict", id="dict-of-lists"),
        pytest.param("small.pt", checkpoint_bytes(small), "shapes do not match", id="wrong-shapes"),
        pytest.param("acrobot.pt", checkpoint_bytes(acrobot), "shapes do not match", id="other-preset"),
        pytest.param("renamed.pt", checkpoint_bytes(renamed), "parameters do not match", id="wrong-names"),
        pytest.param("noise.pt", np.random.default_rng(0).bytes(50_000), "not a PyTorch checkpoint", id="random-bytes"),
        pytest.param("notes.pt", b"these are my notes, not a model\n" * 10, "not a PyTorch checkpoint", id="text"),
        pytest.param("huge.pt", b"\0" * (MAX_CHECKPOINT_BYTES + 1), "MB", id="too-large"),
    ]


@pytest.mark.parametrize("name, data, words", bad_files())
def test_load_checkpoint_refuses(name, data, words):
    agent = agent_for(CARTPOLE)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(data, agent)
    assert words in str(refused.value)
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())  # untouched


def test_load_checkpoint_refuses_without_running_the_pickle(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    with pytest.raises(CheckpointError, match="objects other than tensors"):
        load_checkpoint(torch_bytes({"actor.0.weight": Payload()}), agent_for(CARTPOLE))
    assert not marker.exists()


def test_load_checkpoint_accepts_a_trained_policy_with_its_observation_statistics():
    cfg = PRESETS["acrobot"].replace(total_steps=2 * PRESETS["acrobot"].batch_size, normalize_obs=True)
    trainer = PPOTrainer(cfg)
    for _ in trainer.iterate():
        pass
    data = checkpoint_bytes(trainer.agent.state_dict(), trainer.observation_stats())
    trainer.close()
    fresh = agent_for(cfg)
    stats = load_checkpoint(data, fresh)
    for k, v in trainer.agent.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    expected = trainer.observation_stats()
    assert stats is not None and np.allclose(stats["mean"], expected["mean"]) and np.allclose(stats["var"], expected["var"])
    assert load_checkpoint(checkpoint_bytes(agent_for(CARTPOLE).state_dict()), agent_for(CARTPOLE)) is None


@pytest.mark.parametrize("name, data, words", bad_files())
def test_the_uploader_refuses(at, name, data, words):
    at.file_uploader(key="train_upload").upload(name, data).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"Can't use `{name}`: ") and words in errors[0], errors  # the name as a code span: plain text
    assert not at.success and not [b for b in at.button if b.key == "train_play_loaded"]


def test_a_finished_runs_model_plays_and_loads_back_through_the_uploader(at):
    set_widget(at, "cartpole", "total_steps", 4 * BATCH)
    at.button(key="train_start").click().run()
    wait_until(at, lambda a: state(a) == "finished", "the run to finish")
    model = the_run(at).model_state
    assert model is not None

    at.button(key="train_play").click().run()
    assert not at.exception
    (image,) = at.get("image")
    assert "steps, return" in image.captions[0]

    at.file_uploader(key="train_upload").upload("cartpole.pt", model).run()
    assert not at.exception and not at.error
    assert at.success[-1].value.startswith("Loaded `cartpole.pt`")
    at.button(key="train_play_loaded").click().run()
    assert not at.exception
    captions = [c for el in at.get("image") for c in el.captions]
    assert len(captions) == 2 and all("steps, return" in c for c in captions), captions
    steps, ret = captions[1].split(" steps, return ")
    ret, units = ret.split(" (", 1)  # CartPole's episodes end by 500 steps, so never "cut short"
    assert units == "the environment's own rewards, as in the return chart)"
    assert int(steps) >= 1 and float(ret) == pytest.approx(float(steps))  # CartPole pays +1 per step


@pytest.mark.parametrize(
    "preset, words",
    [
        # an untrained mountain car never reaches the flag: the player stops it at 500 of its 999 steps
        pytest.param(
            "mountaincar-continuous",
            "500 steps (cut short: the environment's own limit is 999), return {:.1f} (the environment's own rewards, as in the return chart)",
            id="cut-short",
        ),
        pytest.param(
            "pendulum-discrete", "200 steps, return {:.1f} (rewards are the environment's divided by 10, as in the return chart)", id="scaled"
        ),
    ],
)
def test_a_played_episodes_caption_gives_its_return_its_units_and_any_cut(at, preset, words):
    from ppo_core.lesson import play_episode

    cfg = PRESETS[preset]
    agent = agent_for(cfg)
    ref = play_episode(cfg, agent, max_steps=500)  # the page plays seed 0, actions sampled
    at.selectbox(key="train_preset").set_value(preset).run()
    at.file_uploader(key="train_upload").upload(f"{preset}.pt", checkpoint_bytes(agent.state_dict())).run()
    at.button(key="train_play_loaded").click().run()
    assert not at.exception
    (caption,) = [c for el in at.get("image") for c in el.captions]
    assert caption == words.format(ref["episode_return"])
