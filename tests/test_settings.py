"""Each hyperparameter is declared once, on PPOConfig: a field added with its Setting appears in
the validation, the command line's --set and the training page's controls (and its URL)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ppo_core import PRESETS, PPOConfig
from ppo_core import cli
from ppo_core.config import settings, setting


@dataclass(frozen=True)
class WithDemo(PPOConfig):
    demo_coef: float = setting(0.3, "a coefficient only this test knows", label="Demo coefficient",
                               low=0.0, high=1.0, control="slider", step=0.1)


def test_every_field_declares_its_setting_and_kind():
    declared = settings(PPOConfig)
    assert list(declared) == [f for f in PPOConfig.__dataclass_fields__]
    assert declared["target_kl"].optional and declared["target_kl"].kind == "float"
    assert declared["seed"].kind == "int" and declared["anneal_lr"].kind == "bool"
    assert declared["hidden_sizes"].kind == "tuple" and declared["objective"].choices is not None


def test_a_new_field_is_validated_from_its_declaration():
    assert WithDemo(demo_coef=0.5).demo_coef == 0.5
    with pytest.raises(ValueError, match=r"^demo_coef: must be from 0.0 to 1.0; got 2.0$"):
        WithDemo(demo_coef=2.0)
    with pytest.raises(ValueError, match=r"^demo_coef: "):
        WithDemo(demo_coef="high")


def test_a_new_field_is_set_from_the_command_line(monkeypatch, capsys):
    seen = {}

    class Recorder:
        def __init__(self, config):
            seen["config"] = config
            self.global_step, self.wall_s, self.reached_target = 0, 0.0, False

        def iterate(self):
            return iter(())

        def close(self):
            pass

    monkeypatch.setitem(PRESETS, "cartpole", WithDemo(**PRESETS["cartpole"].to_dict()))
    monkeypatch.setattr(cli, "PPOTrainer", Recorder)
    assert cli.main(["train", "--preset", "cartpole", "--set", "demo_coef=0.7"]) == 0
    assert seen["config"].demo_coef == 0.7
    with pytest.raises(SystemExit):
        cli.main(["train", "--preset", "cartpole", "--set", "demo_coef=3"])
    assert "demo_coef: must be from 0.0 to 1.0; got 3.0" in capsys.readouterr().err


def test_a_new_field_appears_on_the_training_page_and_in_its_url(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import APP

    monkeypatch.setitem(PRESETS, "cartpole", WithDemo(**PRESETS["cartpole"].to_dict()))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("lessons/training.py")
    at.query_params["demo_coef"] = "0.6"
    at.run()
    assert not at.exception
    slider = at.slider(key="train_cartpole_demo_coef")
    assert slider.label == "Demo coefficient" and slider.value == 0.6
    assert slider.min == 0.0 and slider.max == 1.0
    slider.set_value(0.2).run()
    assert at.query_params["demo_coef"] == "0.2"


def test_the_cli_lists_every_setting_with_its_range():
    text = cli.settings_help()
    for name, s in settings(PPOConfig).items():
        assert f"  {name} " in text and s.allowed() in text


@pytest.mark.parametrize("name, raw, value", [
    ("target_kl", "none", None), ("target_kl", "0.02", 0.02), ("hidden_sizes", "32,16", (32, 16)),
    ("anneal_lr", "false", False), ("objective", "kl_penalty", "kl_penalty"), ("seed", "12", 12),
])
def test_a_setting_parses_what_a_person_types(name, raw, value):
    assert settings()[name].parse(raw) == value


@pytest.mark.parametrize("name, raw, words", [
    ("seed", "1.5", "seed: must be an integer from 0 to 2,147,483,647"),
    ("learning_rate", "0", "learning_rate: must be greater than 0.0 and at most 1.0"),
    ("clip_coef", "1", "clip_coef: must be strictly between 0.0 and 1.0"),
    ("objective", "trpo", "objective: must be one of clip, kl_penalty, none"),
    ("gamma", "inf", "gamma: must be from 0.0 to 1.0"),
])
def test_a_bad_value_names_the_field_and_the_range(name, raw, words):
    with pytest.raises(ValueError, match="^" + words):
        settings()[name].parse(raw)
