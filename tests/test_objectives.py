"""The clipped objective (the worked examples of the "PPO from scratch" notebook, where the gradient flows), KL penalty, β rule."""

import numpy as np
import pytest
import torch

from ppo_core import adaptive_beta, approx_kl, clip_binds, clip_fraction, clipped_objective, clipped_term, kl_penalty_objective
from ppo_core.objectives import explained_variance, value_loss


def test_worked_examples_from_seed_000():
    assert clipped_objective(1.2, 0.5, 0.1) == pytest.approx(0.55)
    assert clipped_objective(0.8, -0.5, 0.1) == pytest.approx(-0.45)


def test_numpy_in_numpy_out_torch_in_torch_out():
    r = np.array([0.5, 1.0, 1.5])
    out = clipped_objective(r, np.array([1.0, 1.0, 1.0]), 0.2)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [0.5, 1.0, 1.2])
    t = clipped_objective(torch.tensor([0.5, 1.0, 1.5]), torch.tensor([-1.0, -1.0, -1.0]), 0.2)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), [-0.8, -1.0, -1.5])


@pytest.mark.parametrize(
    "r, adv, zero_grad",
    [
        (1.5, 1.0, True),  # A > 0, r above 1+ε: clipped, no gradient
        (0.5, 1.0, False),  # A > 0, r below 1−ε: r·A is the minimum, gradient A
        (1.05, 1.0, False),  # inside the range
        (0.5, -1.0, True),  # A < 0, r below 1−ε: clipped, no gradient
        (1.5, -1.0, False),  # A < 0, r above 1+ε: r·A is the minimum, gradient A
        (0.95, -1.0, False),
    ],
)
def test_gradient_is_zero_exactly_where_the_clip_binds(r, adv, zero_grad):
    ratio = torch.tensor(r, requires_grad=True)
    clipped_objective(ratio, torch.tensor(adv), 0.2).backward()
    if zero_grad:
        assert ratio.grad.item() == 0.0
    else:
        assert ratio.grad.item() == pytest.approx(adv)
    assert bool(clip_binds(np.array(r), np.array(adv), 0.2)) is zero_grad


def test_kl_penalty_objective():
    assert kl_penalty_objective(1.2, 0.5, 0.02, 3.0) == pytest.approx(1.2 * 0.5 - 3.0 * 0.02)
    t = kl_penalty_objective(torch.tensor([1.2]), torch.tensor([0.5]), torch.tensor([0.02]), 3.0)
    assert t.item() == pytest.approx(0.54)


@pytest.mark.parametrize(
    "kl, expected",
    [(0.016, 2.0), (0.015, 1.0), (0.01, 1.0), (0.0067, 1.0), (0.0066, 0.5)],
)
def test_adaptive_beta_doubles_above_1_5_target_and_halves_below_target_over_1_5(kl, expected):
    assert adaptive_beta(1.0, kl, 0.01) == pytest.approx(expected)


def test_approx_kl_matches_the_exact_kl_between_two_categoricals():
    torch.manual_seed(0)
    p = torch.distributions.Categorical(logits=torch.tensor([0.2, -0.1, 0.5]))
    q = torch.distributions.Categorical(logits=torch.tensor([0.25, -0.05, 0.4]))
    a = p.sample((200_000,))
    log_ratio = q.log_prob(a) - p.log_prob(a)  # samples from the old policy p
    exact = torch.distributions.kl_divergence(p, q).item()
    assert approx_kl(log_ratio).item() == pytest.approx(exact, rel=0.05)
    assert (approx_kl(log_ratio, reduce=False) >= 0).all()


def test_clip_fraction_and_explained_variance():
    assert clip_fraction(np.array([0.7, 0.9, 1.0, 1.1, 1.3]), 0.2) == pytest.approx(0.4)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(y, y) == 1.0
    assert explained_variance(np.full(4, y.mean()), y) == pytest.approx(0.0)


def test_value_loss_clipping_takes_the_larger_error():
    v_new, ret, v_old = torch.tensor([2.0]), torch.tensor([2.0]), torch.tensor([0.0])
    assert value_loss(v_new, ret).item() == 0.0
    # clipped to 0 + 0.2: error (0.2 − 2)² = 3.24, larger than 0: taken, halved
    assert value_loss(v_new, ret, v_old, 0.2).item() == pytest.approx(0.5 * 3.24)


@pytest.mark.parametrize("r, a, expected", [(1.2, 0.5, 0.55), (0.8, -0.5, -0.45), (1.05, 0.5, 0.525), (0.3, 2.0, 1.8)])
def test_clipped_term_is_the_clipped_branch_with_eps_0_1(r, a, expected):
    assert clipped_term(r, a, 0.1) == pytest.approx(expected, abs=1e-12)
    assert clipped_term(torch.tensor(r), a, 0.1).item() == pytest.approx(expected, abs=1e-6)


def test_clipped_objective_is_the_smaller_of_rA_and_the_clipped_term():
    r = np.linspace(0.0, 2.0, 41)
    for a in (1.3, -0.7):
        np.testing.assert_array_equal(clipped_objective(r, a, 0.2), np.minimum(r * a, clipped_term(r, a, 0.2)))
