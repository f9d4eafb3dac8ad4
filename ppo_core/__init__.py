"""ppo_core: the PPO implementation that every page of the app and the trainer share.

Public contract (see shared/DESIGN.md): rewards_to_go, gae, clipped_objective, PPOConfig,
PRESETS, PPOTrainer. Never imports streamlit.
"""

from .advantages import gae, normalize_advantages, rewards_to_go, td_errors
from .config import PPOConfig
from .envs import ENVIRONMENTS, make_env, make_vector_env
from .networks import ActorCritic
from .objectives import (
    adaptive_beta,
    approx_kl,
    clip_binds,
    clip_fraction,
    clipped_objective,
    clipped_term,
    explained_variance,
    kl_penalty_objective,
    surrogate_objective,
    value_loss,
)
from .presets import PRESETS
from .trainer import RETURN_WINDOW, Batch, PPOTrainer, TrainingDiverged

__all__ = [
    "rewards_to_go", "gae", "td_errors", "normalize_advantages",
    "clipped_objective", "clipped_term", "clip_binds", "kl_penalty_objective", "surrogate_objective", "adaptive_beta", "approx_kl",
    "clip_fraction", "value_loss", "explained_variance",
    "PPOConfig", "PRESETS", "PPOTrainer", "Batch", "TrainingDiverged", "RETURN_WINDOW",
    "ActorCritic", "ENVIRONMENTS", "make_env", "make_vector_env",
]
