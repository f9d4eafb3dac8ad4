"""Each lesson page asks its "Predict, then reveal" question before the chart or table that
answers it: a student who scrolls down to answer must not read the answer on the way."""

import pytest

# page → (its question's key, the first element that must come after it)
PAGES = {
    "lessons/loop.py": ("predict/loop_is", "vega_lite_chart"),
    "lessons/rewards_to_go.py": ("predict/rtg", "dataframe"),
    "lessons/advantages.py": ("predict/adv_norm", "dataframe"),
    "lessons/clipped_objective.py": ("predict/clip", "vega_lite_chart"),
    "lessons/ppo_update.py": ("predict/update", "vega_lite_chart"),
}


def page_order(node, out: list) -> list:
    """The page's elements in reading order, as (type, key) pairs."""
    children = getattr(node, "children", None)
    if children:
        for index in sorted(children):
            page_order(children[index], out)
    else:
        out.append((node.type, getattr(node, "key", None)))
    return out


@pytest.mark.parametrize("page", sorted(PAGES))
def test_question_comes_before_its_answer(open_page, page):
    question, answer_type = PAGES[page]
    at = open_page(page)
    assert not at.exception
    order = page_order(at.main, [])
    asked = order.index(("radio", question))
    answered = next(i for i, (kind, _) in enumerate(order) if kind == answer_type)
    assert asked < answered, f"{page}: the question {question} comes after the first {answer_type}"
