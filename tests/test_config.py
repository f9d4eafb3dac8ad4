"""PPOConfig refuses every invalid value with a ValueError that names the field."""

import pytest

from ppo_core import PPOConfig, PRESETS

INVALID = [
    ("env_id", "Pong-v5"),
    ("seed", -1),
    ("seed", 1.5),
    ("total_steps", 0),
    ("num_envs", 0),
    ("num_envs", 65),
    ("num_steps", 0),
    ("num_minibatches", 0),
    ("update_epochs", 0),
    ("learning_rate", 0.0),
    ("learning_rate", -1e-3),
    ("learning_rate", float("nan")),
    ("anneal_lr", "yes"),
    ("gamma", 1.01),
    ("gamma", -0.1),
    ("gae_lambda", 1.5),
    ("objective", "trpo"),
    ("clip_coef", 0.0),
    ("clip_coef", 1.0),
    ("kl_beta", -1.0),
    ("kl_target", 0.0),
    ("target_kl", -0.01),
    ("norm_adv", 1),
    ("clip_vloss", None),
    ("vf_coef", -0.5),
    ("ent_coef", 2.0),
    ("max_grad_norm", 0.0),
    ("hidden_sizes", ()),
    ("hidden_sizes", (64, 0)),
    ("hidden_sizes", (64, 64, 64, 64, 64)),
    ("activation", "gelu"),
    ("shared_trunk", "no"),
    ("log_std_init", 5.0),
    ("sde_sample_freq", -1),
    ("sde_sample_freq", 1.5),
    ("ortho_init", "no"),
    ("normalize_obs", 0),
    ("normalize_reward", 0),
    ("stop_at_target", 0),
]


@pytest.mark.parametrize("field, value", INVALID)
def test_invalid_value_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        PPOConfig(**{field: value})


def test_every_field_has_an_invalid_case():
    from dataclasses import fields

    covered = {f for f, _ in INVALID}
    assert {f.name for f in fields(PPOConfig)} - covered == {"target_return"}  # any real number or None


def test_minibatch_of_one_is_refused_with_the_allowed_range():
    with pytest.raises(ValueError, match=r"^num_minibatches: must be between 1 and 4 .* got 5"):
        PPOConfig(num_envs=1, num_steps=8, num_minibatches=5, total_steps=100)


def test_gsde_is_refused_for_discrete_actions():
    with pytest.raises(ValueError, match=r"^sde_sample_freq: gSDE draws noise for continuous actions, and CartPole has discrete"):
        PPOConfig(env_id="CartPole-v1", sde_sample_freq=4)
    assert PPOConfig(env_id="Pendulum-v1", sde_sample_freq=4).sde_sample_freq == 4


def test_total_steps_must_hold_one_batch():
    with pytest.raises(ValueError, match=r"^total_steps: "):
        PPOConfig(num_envs=8, num_steps=128, total_steps=1000)


def test_round_trip_through_a_dict_and_unknown_keys():
    for cfg in PRESETS.values():
        assert PPOConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"^epsilon: not a PPOConfig field"):
        PPOConfig.from_dict({"epsilon": 0.2})
