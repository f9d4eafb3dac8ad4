"""The trainer: ratio 1 at the start of an update, determinism, time-limit bootstraps, divergence."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ppo_core import PPOTrainer, PRESETS, TrainingDiverged
from ppo_core.envs import make_vector_env

SMALL = dict(total_steps=2048, num_envs=4, num_steps=64, num_minibatches=2, update_epochs=3)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_ratio_is_exactly_one_on_the_first_minibatch_of_the_first_epoch(preset):
    trainer = PPOTrainer(PRESETS[preset].replace(**SMALL))
    seen = []
    for _ in range(2):  # the first update and one after the networks have moved
        batch = trainer.compute_advantages(trainer.collect())
        trainer.update(batch, on_minibatch=lambda epoch, idx, ratio: seen.append((epoch, ratio.clone())))
        first_epoch, first_ratio = seen[0]
        assert first_epoch == 0
        assert torch.equal(first_ratio, torch.ones_like(first_ratio))
        assert any(not torch.equal(r, torch.ones_like(r)) for _, r in seen[1:])  # and it moves after
        seen.clear()
    trainer.close()


def _metrics(config):
    trainer = PPOTrainer(config)
    out = [{k: v for k, v in rec.items() if k not in ("wall_s", "sps")} for rec in trainer.iterate()]
    trainer.close()
    return out


@pytest.mark.parametrize("preset", ["cartpole", "pendulum"])
def test_same_seed_gives_identical_metrics(preset):
    cfg = PRESETS[preset].replace(**SMALL, seed=3)
    first, second = _metrics(cfg), _metrics(cfg)
    assert first == second
    assert _metrics(cfg.replace(seed=4)) != first


def test_pendulum_time_limit_is_truncation_and_is_bootstrapped():
    # Pendulum never terminates; every episode is cut at 200 steps.
    cfg = PRESETS["pendulum"].replace(num_envs=2, num_steps=256, total_steps=512, num_minibatches=2)
    trainer = PPOTrainer(cfg)
    rollout = trainer.collect()
    assert not rollout.terminated.any()
    assert rollout.truncated.sum() == 2 and rollout.truncated[199].all()
    assert (rollout.final_values[199] != 0).all() and (rollout.final_values[rollout.truncated == False] == 0).all()  # noqa: E712
    # the final observation is the one the episode was cut at, not the reset one
    for (t, n), final in rollout.final_obs.items():
        assert not np.allclose(final, rollout.obs[t + 1, n].numpy())
    trainer.close()


def test_cartpole_same_step_autoreset_puts_the_final_observation_in_info():
    envs = make_vector_env("CartPole-v1", 3)
    obs, _ = envs.reset(seed=0)
    for _ in range(100):
        obs, reward, term, trunc, info = envs.step(np.ones(3, dtype=np.int64))  # always push right: falls fast
        if term.any():
            break
    i = int(np.flatnonzero(term)[0])
    assert reward[i] == 1.0
    assert abs(info["final_obs"][i][2]) > 0.2 or abs(info["final_obs"][i][0]) > 2.4  # fell or left the track
    assert np.all(np.abs(obs[i]) <= 0.05)  # already the first observation of the next episode
    assert info["_episode"][i] and info["episode"]["l"][i] >= 1


def test_cartpole_vector_env_steps_as_gymnasiums():
    # SAME_STEP changes when ended poles are reset, nothing else: from the same states and
    # actions, Gymnasium's CartPoleVectorEnv gives the same observations, ends and rewards, and
    # its observation of an ended pole is ours in info["final_obs"].
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    from ppo_core.envs import SameStepCartPoleVectorEnv

    # a short time limit, so that truncations happen too
    ours, theirs = SameStepCartPoleVectorEnv(16, max_episode_steps=30), CartPoleVectorEnv(16, max_episode_steps=30)
    ours.reset(seed=1)
    theirs.reset(seed=1)
    rng = np.random.default_rng(0)
    terminations = truncations = 0
    for _ in range(300):
        theirs.state, theirs.steps = ours.state.copy(), ours.steps.copy()
        theirs.prev_done[:] = False
        action = rng.integers(0, 2, 16)
        expected = theirs.step(action)
        obs, reward, term, trunc, info = ours.step(action)
        ended = term | trunc
        np.testing.assert_array_equal(term, expected[2])
        np.testing.assert_array_equal(trunc, expected[3])
        np.testing.assert_array_equal(reward, expected[1])
        np.testing.assert_array_equal(obs[~ended], expected[0][~ended])
        for i in np.flatnonzero(ended):
            np.testing.assert_array_equal(info["final_obs"][i], expected[0][i])
        terminations += term.sum()
        truncations += (trunc & ~term).sum()
    assert terminations > 10 and truncations > 10


def test_a_diverging_run_stops_and_says_why():
    trainer = PPOTrainer(PRESETS["cartpole"].replace(**SMALL))
    with torch.no_grad():
        next(trainer.agent.critic.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="became nan"):
        trainer.train_one_update()


def test_kl_penalty_adapts_beta_and_no_clip_runs():
    rec = list(PPOTrainer(PRESETS["cartpole"].replace(**SMALL, objective="kl_penalty", kl_beta=1.0)).iterate())
    assert all("kl_beta" in r for r in rec) and len({r["kl_beta"] for r in rec}) > 1
    assert list(PPOTrainer(PRESETS["cartpole"].replace(**SMALL, objective="none")).iterate())


def test_shared_trunk_and_value_clipping_and_target_kl():
    cfg = PRESETS["acrobot"].replace(**SMALL, shared_trunk=True, clip_vloss=True, target_kl=1e-6)
    trainer = PPOTrainer(cfg)
    shared = [n for n, _ in trainer.agent.named_parameters() if n.startswith("trunk")]
    assert shared
    rec = trainer.train_one_update()
    assert rec["epochs_run"] < cfg.update_epochs  # stopped early on the tiny target KL


def test_record_has_the_design_fields():
    rec = next(PPOTrainer(PRESETS["mountaincar-continuous"].replace(**SMALL)).iterate())
    for key in ("global_step", "wall_s", "episode_return_mean", "policy_loss", "value_loss", "entropy",
                "approx_kl", "clip_fraction", "explained_variance", "learning_rate", "std"):
        assert key in rec
    json.dumps(rec)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ppo_core", "train", *args], capture_output=True, text=True, timeout=120)


def test_cli_prints_one_json_record_per_update():
    out = _cli("--preset", "cartpole", "--seed", "2", "--total-steps", "1024", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 1024 // PRESETS["cartpole"].batch_size
    assert lines[-1]["global_step"] == 1024
    assert {"episode_return_mean", "approx_kl", "clip_fraction", "explained_variance"} <= set(lines[0])


def test_cli_progress_line_and_errors():
    out = _cli("--preset", "acrobot", "--total-steps", "2048")
    assert out.returncode == 0 and "return(20)" in out.stdout and out.stdout.strip().splitlines()[-1].startswith("done:")
    bad = _cli("--preset", "pong")
    assert bad.returncode == 2 and "--preset: unknown preset 'pong'" in bad.stderr
    bad = _cli("--set", "gamma=1.5")
    assert bad.returncode == 2 and "gamma: must be from 0.0 to 1.0" in bad.stderr
    bad = _cli("--total-steps", "10")
    assert bad.returncode == 2 and "total_steps: must be at least one batch" in bad.stderr


def test_trainers_in_parallel_threads_match_a_sequential_run():
    # The app's sessions are threads of one process: each trainer must draw from its own stream.
    import threading

    cfg = PRESETS["pendulum"].replace(**SMALL, seed=5)
    expected = _metrics(cfg)
    results = [None, None]

    def work(i):
        results[i] = _metrics(cfg)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == expected and results[1] == expected


def test_target_reached_needs_a_full_window_of_episodes():
    from ppo_core.trainer import RETURN_WINDOW, target_reached

    assert target_reached(475.0, RETURN_WINDOW, 475.0)
    assert not target_reached(474.9, RETURN_WINDOW, 475.0)
    assert not target_reached(500.0, RETURN_WINDOW - 1, 475.0)  # 19 episodes: not yet
    assert not target_reached(None, 0, 475.0) and not target_reached(500.0, 50, None)
