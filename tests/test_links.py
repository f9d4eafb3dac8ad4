"""Shareable links (ui.links, views.links), presenter mode and the predict-then-reveal count, as AppTests of
the whole app: a page opened with query parameters shows their values, the parameters follow
the controls, bad values give a note and the default, and presenter mode survives navigation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ppo_core import PRESETS
from ui.links import Param

ROOT = Path(__file__).resolve().parents[1]
CLIP = "lessons/clipped_objective.py"
LOOP = "lessons/loop.py"
ADV = "lessons/advantages.py"
RTG = "lessons/rewards_to_go.py"
HOME = "lessons/home.py"


@pytest.fixture
def open_with():
    """open_with(page, {param: value}) -> an AppTest of the whole app that opened ``page``
    with those query parameters, as a browser does for a link."""
    from streamlit.testing.v1 import AppTest

    from conftest import APP

    def _open(page: str, query: dict[str, str] | None = None, timeout: float = 120):
        at = AppTest.from_file(APP, default_timeout=timeout)
        at.run()  # registers the pages (see conftest.open_page)
        at.query_params.clear()
        at.query_params.update(query or {})
        at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    return _open


def notes(at) -> list[str]:
    return [w.value for w in at.warning if "The link's parameter" in w.value]


# -- Param, without Streamlit -------------------------------------------------------------------
@pytest.mark.parametrize(
    "param, raw, expected",
    [
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), "0.1", 0.1),
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), " 0.123 ", 0.12),  # onto the slider's grid
        (Param("x", 0.2, "float", 0.05, 0.5), "5e-2", 0.05),
        (Param("x", 3, "int", 0, 10), "7", 7),
        (Param("x", 3, "int", 0, 10), "7.0", 7),
        (Param("x", "a", "choice", choices=["a", "b"]), "b", "b"),
        (Param("x", 0, "choice", choices=[0, 5, 20]), "20", 20),
        (Param("x", False, "bool"), "1", True),
        (Param("x", True, "bool"), "false", False),
        (Param("x", True, "bool"), "Off", False),
        (Param("x", 0.0, "float", 0.0, 1.0, step=0.6), "1", 1.0),  # the grid's 1.2 lies past the end: the end
        (Param("x", 0.02, "float", 0.0, 0.2), "-0", 0.0),
    ],
)
def test_param_parses_good_values(param, raw, expected):
    assert param.parse(raw) == expected


@pytest.mark.parametrize("param", [Param("x", 0.02, "float", 0.0, 0.2), Param("x", 0.5, "float", -1.0, 1.0, step=0.25), Param("x", 1, "int", -3, 3)])
def test_minus_zero_is_never_written_back(param):
    """A link's -0 gives 0, and the URL is written back as 0."""
    from ui.links import format_value

    value = param.parse("-0")
    assert value == 0 and format_value(param, value) == "0" and format_value(param, -0.0) == "0"


@pytest.mark.parametrize(
    "param, raw, reason",
    [
        (Param("x", 0.2, "float", 0.05, 0.5), "abc", "not a number"),
        (Param("x", 0.2, "float", 0.05, 0.5), "nan", "not a finite number"),
        (Param("x", 0.2, "float", 0.05, 0.5), "inf", "not a finite number"),
        (Param("x", 0.2, "float", 0.05, 0.5), "0.9", "out of range"),
        (Param("x", 0.2, "float", 0.05, 0.5), "", "not a number"),
        (Param("x", 3, "int", 0, 10), "2.5", "not a whole number"),
        (Param("x", 3, "int", 0, 10), "-1", "out of range"),
        (Param("x", 3, "int", 0, 10), "1e400", "not a finite number"),
        (Param("x", "a", "choice", choices=["a", "b"]), "c", "not one of the choices"),
        (Param("x", False, "bool"), "maybe", "not a yes/no value"),
        # the range is checked before the step's arithmetic: 1e307 / 0.01 would overflow
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), "1e307", "out of range"),
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), "-1e307", "out of range"),
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), "0.5004", "out of range"),  # not snapped back into range
        (Param("x", 3, "int", 0, 10), "1e307", "out of range"),
        (Param("x", 0.5, "float", step=1e-300), "1e15", "out of range"),  # unbounded, yet too many steps
        (Param("x", 0, "int"), "1e16", "out of range"),  # past 2**53, where a number widget stops holding integers
        (Param("x", 0.2, "float", 0.05, 0.5, step=0.01), "`[x](http://evil/)`", "not a number"),
    ],
)
def test_param_rejects_bad_values(param, raw, reason):
    with pytest.raises(ValueError, match=reason):
        param.parse(raw)


def test_param_describes_what_it_allows():
    assert Param("x", 0.2, "float", 0.05, 0.5).allowed() == "a number from 0.05 to 0.5"
    assert Param("x", 3, "int", 0, 10).allowed() == "a whole number from 0 to 10"
    assert Param("x", "a", "choice", choices=["a", "b"]).allowed() == "one of a, b"
    assert "1 or 0" in Param("x", False, "bool").allowed()
    with pytest.raises(ValueError):
        Param("x", 1, "text")
    with pytest.raises(ValueError):
        Param("x", 1, "choice")


# -- a link opens the view it describes --------------------------------------------------------
def test_link_restores_the_clip_page(open_with):
    at = open_with(CLIP, {"clip_eps": "0.1", "clip_probe": "1.2", "clip_adv": "0.5", "clip_kl_target": "0.02"})
    assert at.slider(key="clip_eps").value == pytest.approx(0.1)
    assert at.slider(key="clip_probe").value == pytest.approx(1.2)
    assert at.slider(key="clip_adv").value == pytest.approx(0.5)
    assert at.number_input(key="clip_kl_target").value == pytest.approx(0.02)
    # A > 0 column: r·A = 0.6, clip(r)·A = 1.1 · 0.5 = 0.55, L^CLIP = 0.55
    assert [m.value for m in at.metric][:3] == ["+0.600", "+0.550", "+0.550"]
    assert not notes(at)
    # the URL now describes every control of the page, the link shown with it
    assert at.query_params["clip_eps"] == "0.1" and at.query_params["clip_beta"] == "1"
    assert at.code[0].value.startswith("/clipped-objective?clip_eps=0.1&")


def test_query_parameters_follow_the_controls(open_with):
    at = open_with(CLIP)
    assert at.query_params["clip_eps"] == "0.2" and at.query_params["clip_probe"] == "1.3"
    at.slider(key="clip_eps").set_value(0.35).run()
    assert at.query_params["clip_eps"] == "0.35"
    at.number_input(key="clip_kl_measured").set_value(0.05).run()
    assert at.query_params["clip_kl_measured"] == "0.05"
    assert "clip_kl_measured=0.05" in at.code[0].value and "clip_eps=0.35" in at.code[0].value
    # the controls lead on later runs: the URL does not pull the slider back
    at.slider(key="clip_probe").set_value(0.7).run()
    assert at.slider(key="clip_eps").value == pytest.approx(0.35)
    assert at.query_params["clip_probe"] == "0.7"


def test_changed_url_on_the_same_page_is_applied(open_with):
    """The browser's back button gives the page an older URL: its values are applied."""
    at = open_with(CLIP)
    at.slider(key="clip_eps").set_value(0.35).run()
    at.query_params["clip_eps"] = "0.15"
    at.run()
    assert at.slider(key="clip_eps").value == pytest.approx(0.15)


def test_dependent_controls(open_with):
    """γ's default is the environment's preset γ; the environment's callback still resets it."""
    from ppo_core import PRESETS

    at = open_with(RTG, {"rtg_env": "pendulum-discrete"})
    assert at.selectbox(key="rtg_env").value == "pendulum-discrete"
    assert at.slider(key="rtg_gamma").value == pytest.approx(PRESETS["pendulum-discrete"].gamma)
    at = open_with(RTG, {"rtg_env": "pendulum-discrete", "rtg_gamma": "0.5", "rtg_computed": "3"})
    assert at.slider(key="rtg_gamma").value == pytest.approx(0.5)
    assert at.slider(key="rtg_computed").value == 3
    at.selectbox(key="rtg_env").set_value("cartpole").run()
    assert at.slider(key="rtg_gamma").value == pytest.approx(PRESETS["cartpole"].gamma)
    assert at.query_params["rtg_gamma"] == f"{PRESETS['cartpole'].gamma:g}" and at.query_params["rtg_env"] == "cartpole"


# -- bad values: a note and the default --------------------------------------------------------
@pytest.mark.parametrize(
    "page, query, key, default, words",
    [
        (CLIP, {"clip_eps": "abc"}, "clip_eps", 0.2, ["clip_eps=abc", "not a number", "from 0.05 to 0.5", "default, 0.2"]),
        (CLIP, {"clip_probe": "7"}, "clip_probe", 1.3, ["clip_probe=7", "out of range", "from 0 to 2"]),
        (LOOP, {"loop_steps": "2.5"}, "loop_steps", 10, ["loop_steps=2.5", "not a whole number", "from 3 to 30"]),
        (LOOP, {"loop_seed": "-4"}, "loop_seed", 0, ["loop_seed=-4", "out of range", "from 0 to 9999"]),
        (LOOP, {"loop_env": "mujoco"}, "loop_env", "cartpole", ["loop_env=mujoco", "one of cartpole, pendulum-discrete"]),
        (ADV, {"adv_normalize": "maybe"}, "adv_normalize", False, ["adv_normalize=maybe", "1 or 0"]),
        (ADV, {"adv_warmup": "3"}, "adv_warmup", 5, ["adv_warmup=3", "one of 0, 2, 5, 10"]),
    ],
)
def test_bad_values_give_a_note_and_the_default(open_with, page, query, key, default, words):
    at = open_with(page, query)
    shown = notes(at)
    assert len(shown) == 1, shown
    for word in words:
        assert word in shown[0], (word, shown[0])
    widgets = [w for w in at.get("slider") + at.get("number_input") + at.get("selectbox") + at.get("toggle") + at.get("select_slider") if w.key == key]
    assert widgets[0].value == default
    assert at.query_params[key] != query[key]  # the URL is corrected


def test_good_values_beside_a_bad_one_are_applied(open_with):
    at = open_with(CLIP, {"clip_eps": "0.1", "clip_adv": "lots", "clip_probe": "1.2"})
    assert at.slider(key="clip_eps").value == pytest.approx(0.1)
    assert at.slider(key="clip_probe").value == pytest.approx(1.2)
    assert at.slider(key="clip_adv").value == pytest.approx(1.0)
    assert len(notes(at)) == 1 and "clip_adv=lots" in notes(at)[0]


def test_bool_and_choice_values_from_a_link(open_with):
    at = open_with(ADV, {"adv_normalize": "1", "adv_warmup": "2", "adv_seed": "3", "adv_lambda": "0.5"})
    assert at.toggle(key="adv_normalize").value is True
    assert at.select_slider(key="adv_warmup").value == 2
    assert at.number_input(key="adv_seed").value == 3
    assert at.slider(key="adv_lambda").value == pytest.approx(0.5)
    assert not notes(at)
    assert at.query_params["adv_normalize"] == "1" and at.query_params["adv_warmup"] == "2"


def test_range_known_later_epoch_slider(open_with):
    at = open_with("lessons/ppo_update.py", {"update_epoch": "2"})
    assert at.slider(key="update_epoch").value == 2
    epochs = int(at.slider(key="update_epoch").max)
    at = open_with("lessons/ppo_update.py", {"update_epoch": str(epochs + 5)})
    assert at.slider(key="update_epoch").value == 0
    assert f"from 0 to {epochs}" in notes(at)[0]


# -- pages keep their own parameters -----------------------------------------------------------
def test_another_page_does_not_inherit_the_parameters(open_with):
    at = open_with(CLIP, {"clip_eps": "0.1"})
    at.switch_page(HOME).run()
    assert "clip_eps" not in at.query_params
    at.switch_page(LOOP).run()
    # the page's own parameters, and the student's personal token, which every page keeps
    assert set(at.query_params) == {"loop_env", "loop_seed", "loop_steps", "is_shift", "me"}
    # back to the clip page without parameters: its defaults, no note
    at.switch_page(CLIP).run()
    assert at.slider(key="clip_eps").value == pytest.approx(0.2)
    assert not notes(at)


def test_no_widget_default_and_session_state_warning(open_with):
    """The widgets get their values only from session state: Streamlit's 'created with a default
    value but also had its value set via the Session State API' warning must not appear."""
    from streamlit_private import default_value_warnings

    with default_value_warnings() as logged:
        open_with(CLIP, {"clip_eps": "0.1", "clip_kl_target": "0.02"})
        open_with(ADV, {"adv_normalize": "1", "adv_warmup": "2", "adv_gamma": "0.9"})
        open_with(RTG, {"rtg_gamma": "0.5", "rtg_seed": "2"})
        open_with(LOOP, {"loop_seed": "2", "loop_env": "pendulum-discrete"})
    assert not logged, logged


# -- presenter mode ----------------------------------------------------------------------------
def presenter_css(at) -> bool:
    return any("ppo-presenter" in h.proto.body for h in at.get("html"))


def test_presenter_mode_survives_navigation(open_with):
    at = open_with(CLIP, {"present": "1", "clip_eps": "0.1"})
    assert at.session_state["present"] is True
    assert presenter_css(at)
    assert at.query_params["present"] == "1" and at.query_params["clip_eps"] == "0.1"
    # the copied link is the students' view: without presenter mode
    assert "present" not in at.code[0].value
    # larger chart text
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["config"]["axis"]["labelFontSize"] >= 16
    at.switch_page(HOME).run()  # the URL of another page has no present=1
    assert at.session_state["present"] is True and presenter_css(at)
    assert at.query_params["present"] == "1"
    # leave it with the toggle at the top of the page
    at.toggle(key="present_toggle_bar").set_value(False).run()
    assert at.session_state["present"] is False and not presenter_css(at)
    assert "present" not in at.query_params
    at.run()
    assert at.session_state["present"] is False


def test_sidebar_toggle_switches_presenter_mode_on(open_with):
    at = open_with(CLIP)
    assert not presenter_css(at)
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert "labelFontSize" not in json.dumps(spec.get("config", {}))
    at.sidebar.toggle(key="present_toggle").set_value(True).run()
    assert presenter_css(at) and at.query_params["present"] == "1"
    at = open_with(CLIP, {"present": "0"})
    assert at.session_state["present"] is False


def test_presenter_question_has_a_reveal_button(open_with):
    at = open_with(CLIP, {"present": "1"})
    assert not [r for r in at.radio if r.key == "predict/clip"]
    text = " ".join(m.value for m in at.markdown)
    assert "**A.** Yes, its gradient is the full r·Â" in text
    at.button(key="reveal/clip").click().run()
    assert any("The answer: B. No, the clip stops its gradient" in s.value for s in at.success)
    at.button(key="hide/clip").click().run()
    assert not any("The answer" in s.value for s in at.success)


# -- predict, then reveal ----------------------------------------------------------------------
def test_every_question_is_registered():
    from ui.pages import QUESTIONS

    found = []
    for path in sorted((ROOT / "lessons").glob("*.py")):
        found += re.findall(r'predict_then_reveal\(\s*"([^"]+)"', path.read_text())
    assert sorted(found) == sorted(QUESTIONS)
    assert len(set(QUESTIONS)) == len(QUESTIONS)


def test_home_counts_the_answers(open_with):
    from ui.pages import QUESTIONS

    at = open_with(HOME)
    assert at.get("progress")[0].proto.text.startswith(f"Predict, then reveal: 0 of {len(QUESTIONS)} answered")
    at.switch_page(CLIP).run()
    at.radio(key="predict/clip").set_value("Yes, its gradient is the full r·Â").run()
    assert at.session_state["predictions"]["clip"] == {"choice": "Yes, its gradient is the full r·Â", "correct": False}
    at.radio(key="predict/clip").set_value("No, the clip stops its gradient").run()  # the first answer counts
    assert at.session_state["predictions"]["clip"]["correct"] is False
    at.switch_page(LOOP).run()
    at.radio(key="predict/loop_is").set_value("Far more than ×4").run()
    at.switch_page(HOME).run()
    assert at.get("progress")[0].proto.text == f"Predict, then reveal: 2 of {len(QUESTIONS)} answered, 1 right at the first try"
    # back on the page, the recorded answer is shown again
    at.switch_page(LOOP).run()
    assert at.radio(key="predict/loop_is").value == "Far more than ×4"


# -- the training page: its preset and hyperparameters in the URL ----------------------------
def test_a_training_link_opens_with_its_preset_and_settings(open_with):
    at = open_with("lessons/training.py", {"preset": "acrobot", "objective": "none", "seed": "3", "gae_lambda": "0.8", "stop_at_target": "0"})
    assert at.selectbox(key="train_preset").value == "acrobot"
    assert at.selectbox(key="train_acrobot_objective").value == "none"
    assert at.number_input(key="train_acrobot_seed").value == 3
    assert at.slider(key="train_acrobot_gae_lambda").value == 0.8
    assert at.toggle(key="train_stop_at_target").value is False
    untouched = PRESETS["acrobot"]
    assert at.number_input(key="train_acrobot_learning_rate").value == untouched.learning_rate
    assert not notes(at)


def test_a_bad_training_link_notes_the_field_and_keeps_the_presets_value(open_with):
    at = open_with("lessons/training.py", {"preset": "cartpole", "num_envs": "500", "clip_coef": "wide"})
    found = notes(at)
    assert any("`num_envs=500` is out of range (allowed: a whole number from 1 to 64)" in n for n in found), found
    assert any("`clip_coef=wide` is not a number" in n for n in found), found
    assert at.number_input(key="train_cartpole_num_envs").value == PRESETS["cartpole"].num_envs
    assert at.slider(key="train_cartpole_clip_coef").value == PRESETS["cartpole"].clip_coef
    assert not at.button(key="train_start").disabled


def test_the_training_url_follows_its_controls(open_with):
    at = open_with("lessons/training.py")
    assert at.query_params["preset"] == "cartpole"
    at.number_input(key="train_cartpole_seed").set_value(42).run()
    assert at.query_params["seed"] == "42"
    at.selectbox(key="train_preset").set_value("pendulum").run()
    assert at.query_params["preset"] == "pendulum"
    assert at.query_params["seed"] == str(PRESETS["pendulum"].seed)  # the new preset's own value
