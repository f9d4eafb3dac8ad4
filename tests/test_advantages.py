"""rewards_to_go and gae: hand-worked numbers, the λ identities, bootstraps, and SB3 on the same data."""

import numpy as np
import pytest

from ppo_core import gae, rewards_to_go, td_errors
from ppo_core.advantages import normalize_advantages


def random_batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=shape)
    values = rng.normal(size=shape)
    dones = rng.random(shape) < 0.15
    dones.flat[len(dones.flat) // 2] = True  # at least one episode end in the middle
    last_value = rng.normal(size=shape[1:]) if len(shape) == 2 else rng.normal()
    return rewards, values, dones, last_value


def test_rewards_to_go_by_hand():
    # γ = 0.5; the episode ends after step 1; the batch cuts the second episode after step 3.
    r = [1.0, 2.0, 3.0, 4.0]
    d = [False, True, False, False]
    out = rewards_to_go(r, d, 0.5, last_value=10.0)
    # R3 = 4 + 0.5·10 = 9; R2 = 3 + 0.5·9 = 7.5; R1 = 2 (ended); R0 = 1 + 0.5·2 = 2
    np.testing.assert_allclose(out, [2.0, 2.0, 7.5, 9.0])


def test_termination_does_not_bootstrap_but_truncation_does():
    r = np.array([1.0, 1.0, 1.0])
    d = np.array([False, True, False])
    terminated = rewards_to_go(r, d, 0.9, last_value=0.0)
    truncated = rewards_to_go(r, d, 0.9, last_value=0.0, truncated=np.array([False, True, False]), final_values=np.array([0.0, 5.0, 0.0]))
    assert terminated[1] == pytest.approx(1.0)
    assert truncated[1] == pytest.approx(1.0 + 0.9 * 5.0)
    assert truncated[0] == pytest.approx(1.0 + 0.9 * (1.0 + 0.9 * 5.0))
    assert terminated[2] == truncated[2] == pytest.approx(1.0)  # a new episode: unaffected
    # the same bootstrap in GAE: the TD error of the truncated step uses V(final obs)
    v = np.array([0.5, 0.25, 0.0])
    delta = td_errors(r, v, d, 0.9, truncated=np.array([False, True, False]), final_values=np.array([0.0, 5.0, 0.0]))
    assert delta[1] == pytest.approx(1.0 + 0.9 * 5.0 - 0.25)


@pytest.mark.parametrize("shape", [(50,), (40, 3)])
def test_gae_lambda_one_is_rewards_to_go_minus_values(shape):
    r, v, d, last = random_batch(shape)
    trunc = d & (np.random.default_rng(1).random(shape) < 0.5)
    finals = np.where(trunc, 3.0, 0.0)
    kw = dict(truncated=trunc, final_values=finals)
    np.testing.assert_allclose(gae(r, v, d, 0.97, 1.0, last, **kw), rewards_to_go(r, d, 0.97, last, **kw) - v, atol=1e-12)


@pytest.mark.parametrize("shape", [(50,), (40, 3)])
def test_gae_lambda_zero_is_the_td_error(shape):
    r, v, d, last = random_batch(shape)
    expected = np.empty(shape)
    for t in range(shape[0]):  # δ_t written out step by step
        next_v = v[t + 1] if t + 1 < shape[0] else last
        expected[t] = r[t] + 0.97 * next_v * (1 - d[t]) - v[t]
    np.testing.assert_allclose(gae(r, v, d, 0.97, 0.0, last), expected, atol=1e-12)
    np.testing.assert_allclose(td_errors(r, v, d, 0.97, last), expected, atol=1e-12)


def test_gae_columns_are_independent_environments():
    r, v, d, last = random_batch((30, 4))
    together = gae(r, v, d, 0.99, 0.95, last)
    for n in range(4):
        np.testing.assert_allclose(together[:, n], gae(r[:, n], v[:, n], d[:, n], 0.99, 0.95, last[n]), atol=1e-12)


def test_gae_matches_stable_baselines3_rollout_buffer():
    torch = pytest.importorskip("torch")
    buffers = pytest.importorskip("stable_baselines3.common.buffers")
    from gymnasium import spaces

    T, N, gamma, lam = 64, 4, 0.98, 0.9
    rng = np.random.default_rng(7)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    starts = rng.random((T, N)) < 0.1  # SB3 records episode *starts*
    final_dones = rng.random(N) < 0.5
    last_values = rng.normal(size=N).astype(np.float32)

    buf = buffers.RolloutBuffer(T, spaces.Box(-1, 1, (2,)), spaces.Discrete(2), "cpu", gae_lambda=lam, gamma=gamma, n_envs=N)
    for t in range(T):
        buf.add(np.zeros((N, 2), np.float32), np.zeros((N, 1)), rewards[t], starts[t], torch.as_tensor(values[t]), torch.zeros(N))
    buf.compute_returns_and_advantage(torch.as_tensor(last_values), final_dones)

    # our dones[t]: the episode ended after step t, i.e. step t+1 starts a new one
    dones = np.concatenate([starts[1:], final_dones[None]], axis=0)
    ours = gae(rewards, values, dones, gamma, lam, last_values)
    np.testing.assert_allclose(ours, buf.advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours + values, buf.returns, rtol=1e-5, atol=1e-5)


def test_normalize_advantages_guards_a_minibatch_of_one():
    torch = pytest.importorskip("torch")
    assert normalize_advantages(torch.tensor([3.0])).item() == 0.0
    a = normalize_advantages(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(a, [-1.0, 0.0, 1.0], atol=1e-6)
