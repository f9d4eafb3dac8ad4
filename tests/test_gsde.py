"""gSDE (generalized State-Dependent Exploration) and PyTorch's default initialisation in ppo_core.

The action is a = μ(s) + θ_ε·z(s) with θ_ij ~ N(0, σ_ij²) drawn every few steps, z(s) the actor's
last hidden features; given s it is N(μ(s), Σ_j z_j(s)² σ_ij²), the distribution the update uses.
"""

import math

import numpy as np
import pytest
import torch

from ppo_core import PPOConfig, PPOTrainer
from ppo_core.networks import ActorCritic
from ppo_core.rollout import collect_rollout
from ppo_core.envs import make_vector_env


def gsde_agent(seed=0, log_std_init=-0.5, action_dim=2):
    return ActorCritic(3, action_dim, True, (16, 16), log_std_init=log_std_init, sde=True,
                       generator=torch.Generator().manual_seed(seed))


def test_log_prob_is_the_gaussian_with_state_dependent_variance_written_out():
    agent = gsde_agent()
    with torch.no_grad():
        agent.log_std.copy_(torch.linspace(-1.0, 0.5, 32).reshape(16, 2))  # a different σ_ij for each pair
    obs = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    actions = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    z = agent.actor[:-1](obs).detach().double()
    mu = agent.actor(obs).detach().double()
    var = z**2 @ agent.log_std.detach().double().exp() ** 2 + 1e-6
    expected = (-((actions.double() - mu) ** 2) / (2 * var) - 0.5 * torch.log(2 * math.pi * var)).sum(-1)
    got = agent.distribution(obs).log_prob(actions).detach().double()
    assert torch.allclose(got, expected, atol=1e-5)


def test_actions_drawn_with_fresh_noise_have_the_distributions_mean_and_spread():
    agent = gsde_agent(seed=3)
    obs = torch.tensor([[0.3, -0.8, 0.5]])
    draws = []
    for _ in range(4000):
        agent.resample_noise(1)
        draws.append(agent.act(obs)[0])
    draws = torch.stack(draws)
    with torch.no_grad():
        dist = agent.distribution(obs)
    assert torch.allclose(draws.mean(0), dist.mean[0], atol=0.05 * float(dist.stddev.max()))
    assert torch.allclose(draws.std(0), dist.stddev[0], rtol=0.05)


def test_the_same_state_gives_the_same_action_until_the_noise_is_drawn_again():
    agent = gsde_agent(seed=4)
    obs = torch.randn(3, 3, generator=torch.Generator().manual_seed(5))
    agent.resample_noise(3)
    first, again = agent.act(obs), agent.act(obs)
    assert torch.equal(first, again)
    agent.resample_noise(3)
    assert not torch.equal(first, agent.act(obs))
    # each environment has its own noise matrix: the same state in two environments moves differently
    same = obs[:1].repeat(3, 1)
    moved = agent.act(same)
    assert not torch.equal(moved[0], moved[1])
    assert torch.equal(agent.act(same, deterministic=True)[0], agent.act(same, deterministic=True)[1])


@pytest.mark.parametrize("freq, draws", [(None, 1), (0, 1), (4, 3), (1, 10)])
def test_a_rollout_draws_noise_at_its_start_and_every_sde_sample_freq_steps(freq, draws, monkeypatch):
    agent = gsde_agent(action_dim=1)
    calls = []
    real = agent.resample_noise
    monkeypatch.setattr(agent, "resample_noise", lambda n: (calls.append(n), real(n)))
    envs = make_vector_env("Pendulum-v1", 2)
    obs, _ = envs.reset(seed=0)
    collect_rollout(envs, agent, obs, 10, freq)
    envs.close()
    assert calls == [2] * draws


def test_a_gsde_run_repeats_with_its_seed_and_records_the_mean_sigma():
    cfg = PPOConfig(env_id="Pendulum-v1", num_envs=2, num_steps=32, num_minibatches=2, update_epochs=2,
                    total_steps=256, sde_sample_freq=4, log_std_init=-1.0, seed=7)
    runs = []
    for _ in range(2):
        trainer = PPOTrainer(cfg)
        runs.append(list(trainer.iterate()))
        trainer.close()
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("wall_s", "sps")} for r in recs]
    assert strip(runs[0]) == strip(runs[1])
    # σ in the record: the per-state σ averaged over the last batch, not exp(log σ_ij)
    with torch.no_grad():
        expected = trainer.agent.distribution(trainer.last_batch.obs).stddev.mean(0)
    assert runs[0][-1]["std"] == pytest.approx(float(expected.mean()))
    assert trainer.agent.log_std.shape == (64, 1)


def test_default_init_is_pytorchs_uniform_bound_drawn_from_the_agents_generator():
    def build(seed):
        return ActorCritic(4, 2, False, (64, 64), ortho_init=False, generator=torch.Generator().manual_seed(seed))

    agent = build(0)
    for layer in [m for m in agent.modules() if isinstance(m, torch.nn.Linear)]:
        bound = 1 / math.sqrt(layer.in_features)
        for tensor in (layer.weight.detach(), layer.bias.detach()):
            assert float(tensor.abs().max()) <= bound
            if tensor.numel() >= 64:  # uniform over the whole range, biases too (not the heads' 1 or 2 biases)
                assert float(tensor.abs().max()) > 0.9 * bound
    assert all(torch.equal(a, b) for a, b in zip(agent.state_dict().values(), build(0).state_dict().values()))
    assert not torch.equal(agent.actor[0].weight, build(1).actor[0].weight)
