"""The lesson's pages, in the order of the PPO pseudocode of the "PPO from scratch" notebook, with the line each teaches."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LessonPage:
    path: str  # relative to app.py
    title: str
    url_path: str
    icon: str
    questions: tuple[str, ...] = ()  # keys of the page's predict-then-reveal questions


# The folder is `lessons/`, not `pages/`: Streamlit treats a `pages/` folder beside the entry point
# as its older automatic multipage app until the entry point has called st.navigation once, so on a
# fresh server the first visitor of a direct link would get the page without app.py.
HOME = LessonPage("lessons/home.py", "The PPO loop", "home", ":material/home:")
LESSONS = [
    LessonPage("lessons/loop.py", "1 · The loop and the policy gradient", "loop", ":material/autorenew:", ("loop_is",)),
    LessonPage("lessons/rewards_to_go.py", "2 · Rewards-to-go", "rewards-to-go", ":material/keyboard_double_arrow_left:", ("rtg",)),
    LessonPage("lessons/advantages.py", "3 · Advantages", "advantages", ":material/trending_up:", ("adv_norm",)),
    LessonPage("lessons/clipped_objective.py", "4 · The clipped objective", "clipped-objective", ":material/content_cut:", ("clip",)),
    LessonPage("lessons/ppo_update.py", "5 · One PPO update", "ppo-update", ":material/update:", ("update",)),
    LessonPage("lessons/training.py", "6 · Live training", "training", ":material/rocket_launch:", ("training",)),
]

# The classroom's pages, apart from the lesson (a section of their own in the navigation, no
# predict questions): the Class page (create, join, assign) and the teacher's board.
CLASS_ROOM = LessonPage("lessons/class_room.py", "Class", "class", ":material/school:")
BOARD = LessonPage("lessons/class_board.py", "Class board", "board", ":material/leaderboard:")
CLASS_PAGES = [CLASS_ROOM, BOARD]

# Every predict-then-reveal question of the lesson, for the count on the home page.
QUESTIONS: tuple[str, ...] = tuple(q for page in LESSONS for q in page.questions)

# The 8-line pseudocode of the "PPO from scratch" notebook, each line with the page that teaches it (None: no page).
PSEUDOCODE: list[tuple[str, str | None]] = [
    (r"Input: initial policy parameters $\theta_0$, initial value function parameters $\phi_0$", "lessons/loop.py"),
    (r"**for** $k = 0, 1, 2, \dots$ **do**", "lessons/loop.py"),
    (r"Collect trajectories $\mathcal{D}_k = \{\tau_i\}$ by running $\pi_k = \pi(\theta_k)$ in the environment", "lessons/loop.py"),
    (r"Compute rewards-to-go $\hat R_t$", "lessons/rewards_to_go.py"),
    (r"Compute advantage estimates $\hat A_t$ based on the current value function $V_{\phi_k}$", "lessons/advantages.py"),
    (r"Update the policy by maximising the PPO-Clip objective (Adam, minibatches, $K$ epochs)", "lessons/clipped_objective.py"),
    (r"Fit the value function by regression on mean-squared error to $\hat R_t$", "lessons/ppo_update.py"),
    (r"**end for**", "lessons/ppo_update.py"),
]
