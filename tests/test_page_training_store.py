"""AppTest: the training page keeps a student's runs under a personal token (``?me=``) in the
run store, so a second session with the same token lists them and opens them.

The app's store is the temporary one conftest gives the pytest process (PPO_DATA_DIR)."""

from __future__ import annotations



from conftest import APP, rerun_until as wait_until, chart_datasets
from ppo_core import PRESETS
from runs.manager import get_scheduler
from runs.store import is_student_token, new_student_token

PAGE = "lessons/training.py"
TIMEOUT_S = 120


def open_training(me: str | None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    if me is not None:
        at.query_params["me"] = me
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def personal_link(at) -> str:
    return next(c.value for c in at.code if "me=" in c.value)


def test_the_token_stays_in_the_url_and_out_of_the_link_to_this_view():
    me = new_student_token()
    at = open_training(me)
    assert at.session_state["student_token"] == me
    assert at.query_params["me"] == me
    assert personal_link(at).endswith(f"/training?me={me}")
    # The "link to this view" popover's text, on the training page itself:
    shared = [c.value for c in at.code if "me=" not in c.value]
    assert any("preset=cartpole&" in text and "clip_coef=0.2" in text for text in shared), shared
    assert all(me not in text for text in shared)
    # And view_url beside a kept personal parameter, on a page of one control:
    from streamlit.testing.v1 import AppTest

    probe = AppTest.from_function(_link_probe, args=(me,))
    probe.run()
    assert not probe.exception, probe.exception
    link, url_query = probe.code[0].value, probe.code[1].value
    assert "me=" not in link and "demo_x=0.3" in link
    assert f"me={me}" in url_query and "demo_x=0.3" in url_query


def _link_probe(me: str):
    import streamlit as st

    from ui.links import Param
    from views.links import begin_page, keep_personal, publish, restore, view_url

    begin_page("demo")
    keep_personal("me", me)
    st.session_state.setdefault("demo_x", 0.3)
    restore([Param("demo_x", 0.2, "float", 0.05, 0.5)])
    publish()
    st.code(view_url())
    st.code("&".join(f"{k}={v}" for k, v in st.query_params.to_dict().items()))


def test_a_bad_token_gets_a_note_and_a_fresh_token():
    at = open_training("<b>not-a-token</b>")
    note = next(w.value for w in at.warning if "is not a personal token" in w.value)
    assert "`me=<b>not-a-token</b>`" in note  # as plain text in a code span, never HTML
    fresh = at.session_state["student_token"]
    assert is_student_token(fresh) and at.query_params["me"] == fresh


def test_no_token_makes_one_and_writes_it_to_the_url():
    at = open_training(None)
    made = at.session_state["student_token"]
    assert is_student_token(made) and at.query_params["me"] == made
    assert not [w for w in at.warning if "personal token" in w.value]


def test_a_second_session_with_the_same_token_lists_the_run_and_opens_its_curve():
    me = new_student_token()
    first = open_training(me)
    first.number_input(key="train_cartpole_total_steps").set_value(10 * PRESETS["cartpole"].batch_size).run()
    first.button(key="train_start").click().run()
    run = first.session_state["train_runs"][0]
    assert run.owner == me
    wait_until(first, lambda a: not run.active, "the run to finish")
    steps = run.records[-1]["global_step"]

    second = open_training(me)  # a reload, another tab, or the same link after a restart
    assert "train_runs" not in second.session_state or not second.session_state["train_runs"]
    table = next(df for df in second.dataframe if "Run" in df.value.columns).value
    assert list(table["Run"]) == [run.label] and list(table["Status"]) == ["finished"]
    assert list(table["Steps"]) == [steps]
    assert second.selectbox(key="train_my_run").value == run.id
    second.button(key="train_open").click().run()
    assert not second.exception, second.exception
    opened = second.session_state["train_runs"][0]
    assert opened.id == run.id and opened is not run  # read back from the store
    assert {m.label: m.value for m in second.metric}["Steps done"] == f"{steps:,}"
    returns = [frames for spec, frames in chart_datasets(second) if any("episode_return_mean" in f.columns for f in frames)]
    assert returns, "no return curve drawn"
    curve = next(f for f in returns[0] if "episode_return_mean" in f.columns)
    assert list(curve["global_step"]) == [r["global_step"] for r in run.records]
    assert {b.label for b in second.get("download_button")} >= {"Metrics (CSV)", "Config (JSON)", "Model (PyTorch state dict)"}

    stranger = open_training(new_student_token())  # another student's token lists nothing of it
    assert not [df for df in stranger.dataframe if "Run" in df.value.columns]


def test_a_student_past_the_cap_is_told_the_cap(monkeypatch):
    me = new_student_token()
    at = open_training(me)
    sched = get_scheduler()
    monkeypatch.setattr(sched, "max_runs_per_student", 0)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("at most 0 runs queued, running or paused at once" in e.value for e in at.error)
    assert "train_runs" not in at.session_state or not at.session_state["train_runs"]
    assert sched.store.runs_of(token=me) == []
