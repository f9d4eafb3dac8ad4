"""Widgets every lesson page shares."""

from __future__ import annotations

import logging

import streamlit as st

from views.links import presenter_mode

log = logging.getLogger(__name__)

PREDICTIONS = "predictions"  # session_state: question key -> {"choice": ..., "correct": ...}, the first answer
REVEALED = "predict_revealed"  # session_state: question keys the teacher revealed (presenter mode)
TOKEN_KEY = "student_token"  # session_state: the student's personal token (views.session.student_token)
LOADED = "predictions_loaded_for"  # session_state: the token whose stored answers were read


def predictions() -> dict[str, dict]:
    """This session's answers to the predict-then-reveal questions: key -> first answer. With a
    personal token the answers the run store keeps of it are read in once, so a reload, another
    tab or a server restart shows the first answers again."""
    answers = st.session_state.setdefault(PREDICTIONS, {})
    token = st.session_state.get(TOKEN_KEY)
    if token and st.session_state.get(LOADED) != token:
        st.session_state[LOADED] = token
        try:
            from runs.manager import get_store

            for row in get_store().answers(token):
                answers.setdefault(row.question, {"choice": row.answer, "correct": row.correct})
        except Exception:  # noqa: BLE001 - the store being down must not break a lesson page
            log.exception("could not read the stored answers of a student")
    return answers


def _keep_answer(key: str, choice: str, correct: bool) -> None:
    """Write a first answer to the run store, under the student's token (if the session has one)."""
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        return
    try:
        from runs.manager import get_store

        get_store().record_answer(token, key, choice, correct)
    except Exception:  # noqa: BLE001 - the answer stays in the session; the page goes on
        log.exception("could not store a student's answer to %s", key)


def predict_then_reveal(key: str, question: str, options: list[str], answer: str, explanation: str) -> None:
    """A question the student answers before the explanation opens.

    The choice is kept in session state under ``predict/<key>``, and the first answer (the
    prediction) in ``st.session_state["predictions"][key]`` and, for a student with a personal
    token, in the run store (:func:`predictions` reads it back); the explanation (and whether the
    current choice is right) appears only once an option is chosen. Coming back to the page
    shows the recorded answer again.

    In presenter mode the options are listed for a show of hands, and a button reveals the
    answer to the room (nothing is recorded).
    """
    if presenter_mode():
        _present(key, question, options, answer, explanation)
        return
    radio_key = f"predict/{key}"
    recorded = predictions().get(key)
    if recorded and radio_key not in st.session_state and recorded["choice"] in options:
        st.session_state[radio_key] = recorded["choice"]
    with st.container(border=True):
        st.markdown(f"**Predict, then reveal.** {question}")
        choice = st.radio("Your prediction", options, index=None, key=radio_key, label_visibility="collapsed")
        if choice is None:
            st.caption("Choose an answer to reveal the explanation.")
            return
        if key not in predictions():
            predictions()[key] = {"choice": choice, "correct": choice == answer}
            _keep_answer(key, choice, choice == answer)
        if choice == answer:
            st.success(f"Right: {answer}")
        else:
            st.warning(f"Not quite: the answer is {answer}")
        st.markdown(explanation)


def _present(key: str, question: str, options: list[str], answer: str, explanation: str) -> None:
    revealed = st.session_state.setdefault(REVEALED, set())
    with st.container(border=True, key=f"present_question_{key}"):
        st.markdown(f"**Predict, then reveal.** {question}")
        st.markdown("\n".join(f"- **{chr(65 + i)}.** {option}" for i, option in enumerate(options)))
        if key not in revealed:
            st.button("Reveal the answer", key=f"reveal/{key}", icon=":material/visibility:", on_click=revealed.add, args=(key,))
            return
        letter = chr(65 + options.index(answer)) if answer in options else ""
        st.success(f"The answer: {letter}. {answer}")
        st.markdown(explanation)
        st.button("Hide the answer", key=f"hide/{key}", icon=":material/visibility_off:", on_click=revealed.discard, args=(key,))


def show_chart(chart, **kwargs) -> None:
    """Draw a chart from ui.charts: an Altair chart, or a Vega-Lite spec dict (the clip plot).
    In presenter mode its text is enlarged (views.presenter.presenter_config). Returns what
    Streamlit returns: with ``on_select``, the chart's selection state."""
    if presenter_mode():
        from views.presenter import for_presenter

        chart = for_presenter(chart)
    if isinstance(chart, dict):
        return st.vega_lite_chart(chart, width="stretch", **kwargs)
    return st.altair_chart(chart, width="stretch", **kwargs)
