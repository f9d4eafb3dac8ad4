"""Saving a trained policy and checking a checkpoint someone uploads.

A checkpoint is a PyTorch state dict (``torch.save`` of a dict of tensors): the agent's
parameters, plus ``obs_norm.mean`` / ``obs_norm.var`` for presets that normalise observations.
Loading uses ``weights_only=True``, so a file that pickles anything but tensors is refused
before any of its code could run.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile

import numpy as np
import torch

MAX_CHECKPOINT_BYTES = 2 * 1024 * 1024  # these networks are ~100 kB; anything far larger is not ours
OBS_KEYS = ("obs_norm.mean", "obs_norm.var")


class CheckpointError(ValueError):
    """The upload is not a usable checkpoint for the chosen preset; the message says why."""


def checkpoint_bytes(state_dict: dict, observation_stats: dict | None = None) -> bytes:
    """``torch.save`` bytes of the parameters (and observation statistics, if any)."""
    data = {k: v.detach().clone() for k, v in state_dict.items()}
    if observation_stats is not None:
        data[OBS_KEYS[0]] = torch.as_tensor(observation_stats["mean"])
        data[OBS_KEYS[1]] = torch.as_tensor(observation_stats["var"])
    buf = io.BytesIO()
    torch.save(data, buf)
    return buf.getvalue()


def load_checkpoint(data: bytes, agent: torch.nn.Module) -> dict | None:
    """Check ``data`` against ``agent``'s parameter names and shapes and load it into ``agent``.

    Returns the observation statistics stored with it (or None). Raises :class:`CheckpointError`
    for a file that is too large, not a PyTorch file, a pickle of something other than tensors,
    or a state dict of another network.
    """
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"the file is {len(data) / 1e6:.1f} MB; a checkpoint of these networks is under {MAX_CHECKPOINT_BYTES // 2**20} MB")
    if not zipfile.is_zipfile(io.BytesIO(data)):  # torch.save writes a zip archive; random bytes, text, a bare pickle do not
        raise CheckpointError("not a PyTorch checkpoint: torch.save writes a zip archive and this file is not one"
                              + (" (it is a plain pickle)" if data[:1] == b"\x80" else ""))
    try:
        loaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))  # torch's own wording
        raise CheckpointError(
            "the file holds objects other than tensors" + (f" ({found.group(1)})" if found else "") + ", refused unopened"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any other failure means it is not a torch file
        raise CheckpointError(f"not a PyTorch checkpoint ({type(exc).__name__})") from None
    if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        raise CheckpointError("the file is not a state dict (a dict of named tensors)")
    stats = None
    if all(k in loaded for k in OBS_KEYS):
        stats = {"mean": loaded.pop(OBS_KEYS[0]).numpy().astype(np.float64), "var": loaded.pop(OBS_KEYS[1]).numpy().astype(np.float64)}
    expected = agent.state_dict()
    missing, extra = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or extra:
        raise CheckpointError(
            "its parameters do not match this preset's network"
            + (f"; missing {', '.join(missing[:4])}" if missing else "")
            + (f"; unexpected {', '.join(extra[:4])}" if extra else "")
        )
    wrong = [f"{k} is {tuple(loaded[k].shape)}, expected {tuple(v.shape)}" for k, v in expected.items() if loaded[k].shape != v.shape]
    if wrong:
        raise CheckpointError("its shapes do not match this preset's network: " + "; ".join(wrong[:3]))
    agent.load_state_dict(loaded)
    return stats
