"""The trainer: ratio 1 at the start of an update, determinism, time-limit bootstraps, divergence,
the update against a plain reference step, the target-KL rule, the record's types."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, Normal

from ppo_core import PPOTrainer, PRESETS, TrainingDiverged
from ppo_core.envs import make_vector_env
from ppo_core.networks import sample
from ppo_core.objectives import approx_kl
from ppo_core.trainer import agent_for

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


@pytest.mark.parametrize("preset", list(PRESETS))
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


def test_update_is_a_plain_adam_step_on_the_ppo_loss():
    # The same minibatches, stepped by hand: the PPO loss written out, then zero_grad, backward,
    # clip_grad_norm_ and torch.optim.Adam. A clip threshold low enough to bind, and an entropy bonus.
    cfg = PRESETS["cartpole"].replace(**SMALL, max_grad_norm=0.1, ent_coef=0.01)
    trainer = PPOTrainer(cfg)
    batch = trainer.compute_advantages(trainer.collect())
    reference = agent_for(cfg, trainer.envs.single_observation_space, trainer.envs.single_action_space)
    reference.load_state_dict(trainer.agent.state_dict())
    minibatches = []
    trainer.update(batch, on_minibatch=lambda epoch, idx, ratio: minibatches.append(idx.clone()))
    assert len(minibatches) == cfg.update_epochs * cfg.num_minibatches

    optimizer = torch.optim.Adam(reference.parameters(), lr=cfg.learning_rate, eps=1e-5)
    norms = []
    for idx in minibatches:
        dist = Categorical(logits=reference.actor(batch.obs[idx]))
        ratio = torch.exp(dist.log_prob(batch.actions[idx]) - batch.log_probs[idx])
        adv = batch.advantages[idx]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        eps = cfg.clip_coef
        policy_loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean()
        v_loss = 0.5 * ((reference.critic(batch.obs[idx]).squeeze(-1) - batch.returns[idx]) ** 2).mean()
        loss = policy_loss + cfg.vf_coef * v_loss - cfg.ent_coef * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(reference.parameters(), cfg.max_grad_norm)))
        optimizer.step()
    assert max(norms) > cfg.max_grad_norm  # the clip took part
    ours, theirs = dict(trainer.agent.named_parameters()), dict(reference.named_parameters())
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], msg=name)
    assert any(not torch.equal(p, q) for p, q in zip(trainer.agent.parameters(), agent_for(cfg).parameters()))
    trainer.close()


def test_target_kl_stops_before_the_first_step_whose_minibatch_kl_is_above_target_kl():
    # Not Stable-Baselines3's 1.5 × target_kl: a target just below one minibatch's approx_kl
    # but above two thirds of it stops the update before that minibatch's step.
    cfg = PRESETS["cartpole"].replace(**SMALL, learning_rate=1e-2)
    free = PPOTrainer(cfg)
    kls, params_before = [], []

    def watch(epoch, idx, ratio):
        kls.append(float(approx_kl(torch.log(ratio))))
        params_before.append([p.detach().clone() for p in free.agent.parameters()])

    free.update(free.compute_advantages(free.collect()), on_minibatch=watch)
    k = int(np.argmax(kls))  # kls[0] is 0 (ratio 1), so k ≥ 1 and every earlier minibatch is lower
    assert k >= 1 and kls[k] > 0
    low = max(max(kls[:k]), kls[k] / 1.5)
    target = low + 0.5 * (kls[k] - low)
    assert max(kls[:k]) < target < kls[k] <= 1.5 * target

    stopped = PPOTrainer(cfg.replace(target_kl=target))
    steps = []
    out = stopped.update(stopped.compute_advantages(stopped.collect()), on_minibatch=lambda e, i, r: steps.append(e))
    assert len(steps) == k  # the k minibatches below the target took their steps, the k+1-th none
    for p, q in zip(stopped.agent.parameters(), params_before[k]):
        assert torch.equal(p, q)
    assert out["epochs_run"] == math.ceil(k / cfg.num_minibatches) and type(out["epochs_run"]) is int
    free.close()
    stopped.close()


def test_gaussian_entropy_is_the_mean_of_what_each_minibatch_loss_used():
    # A Gaussian's entropy depends only on log σ, which every gradient step moves: the logged
    # entropy is the mean over the minibatches of the entropy each loss saw, not the final one's.
    for ent_coef in (0.0, 0.01):
        trainer = PPOTrainer(PRESETS["pendulum"].replace(**SMALL, ent_coef=ent_coef, learning_rate=1e-2))
        seen, per_epoch = [], []

        def before_step(epoch, idx, ratio):
            log_std = trainer.agent.log_std.detach().double()
            seen.append((epoch, float((0.5 * math.log(2 * math.pi * math.e) + log_std).sum())))

        out = trainer.update(
            trainer.compute_advantages(trainer.collect()),
            on_minibatch=before_step,
            on_epoch=lambda epoch, stats: per_epoch.append(stats["entropy"]),
        )
        assert len(seen) == SMALL["update_epochs"] * SMALL["num_minibatches"]
        assert out["entropy"] == pytest.approx(np.mean([h for _, h in seen]), rel=1e-6)
        for epoch, logged in enumerate(per_epoch):
            assert logged == pytest.approx(np.mean([h for e, h in seen if e == epoch]), rel=1e-6)
        final = float(Independent(Normal(torch.zeros(1), trainer.agent.log_std.detach().exp()), 1).entropy())
        assert abs(final - out["entropy"]) > 1e-4  # the final log σ would give another number
        trainer.close()


@pytest.mark.parametrize("preset, changes", [
    ("cartpole", {}),
    ("cartpole", {"objective": "kl_penalty", "target_kl": 0.01}),
    ("pendulum", {}),
])
def test_record_types(preset, changes):
    trainer = PPOTrainer(PRESETS[preset].replace(**SMALL, **changes))
    rec = trainer.train_one_update()
    ints = ["update", "global_step", "episodes", "epochs_run"]
    floats = ["wall_s", "sps", "learning_rate", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "loss"]
    floats += ["std"] if preset == "pendulum" else []
    floats += ["kl_beta"] if "objective" in changes else []
    for key in ints:
        assert type(rec[key]) is int, (key, rec[key])
    for key in floats:
        assert type(rec[key]) is float, (key, rec[key])
    for key in ("episode_return_mean", "explained_variance"):
        assert rec[key] is None or type(rec[key]) is float, (key, rec[key])
    assert set(rec) == set(ints) | set(floats) | {"episode_return_mean", "explained_variance"}
    assert 1 <= rec["epochs_run"] <= SMALL["update_epochs"]
    assert json.loads(json.dumps(rec)) == rec  # an int stays an int in the JSON lines
    trainer.close()


def test_importing_ppo_core_leaves_torch_distribution_validation_alone():
    code = (
        "import torch\n"
        "from torch.distributions import Categorical, Distribution\n"
        "before = Distribution._validate_args\n"
        "import ppo_core, ppo_core.lesson\n"
        "from ppo_core import PRESETS, PPOTrainer\n"
        "t = PPOTrainer(PRESETS['cartpole'].replace(total_steps=512))\n"
        "t.train_one_update()\n"
        "assert Distribution._validate_args is before, Distribution._validate_args\n"
        "try:\n"
        "    Categorical(probs=torch.tensor([0.5, -0.1]))\n"
        "except ValueError:\n"
        "    print('still validated')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "still validated"


@pytest.mark.parametrize("dist", [
    Categorical(logits=torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0], [5.0, -5.0, 0.1]]).repeat(20, 1)),
    Independent(Normal(torch.tensor([[0.5, -2.0]]).repeat(30, 1), torch.tensor([0.3, 1.5]).expand(30, 2)), 1),
], ids=["categorical", "gaussian"])
def test_sample_draws_what_dist_sample_draws_but_from_the_given_generator(dist):
    torch.manual_seed(7)
    expected = dist.sample()
    ours = sample(dist, torch.Generator().manual_seed(7))
    assert torch.equal(ours, expected)
    torch.manual_seed(0)  # the global stream plays no part
    assert torch.equal(sample(dist, torch.Generator().manual_seed(7)), expected)
    assert not torch.equal(sample(dist, torch.Generator().manual_seed(8)), expected)
