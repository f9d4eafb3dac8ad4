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
# torch.save stores the archive's members uncompressed, so a checkpoint of ours unpacks to its own
# size. A zip can declare far more (a 1.6 MB file deflating to one 1.6 GB tensor), and torch.load
# would unpack all of it before any check could look at the shapes: the declared sizes are summed
# first, and so is the number of members (a state dict of these networks has ~20 tensors, one
# member each, plus 6 of torch's bookkeeping).
MAX_UNPACKED_BYTES = MAX_CHECKPOINT_BYTES
MAX_MEMBERS = 64
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
    for a file that is too large or unpacks too large, not a PyTorch file, a pickle of something
    other than tensors, a state dict of another network, tensors that are not dense, finite, real
    floating-point numbers, or observation statistics of the wrong size or with a variance that
    is not positive. ``agent`` is changed only when every check has passed.
    """
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"the file is {len(data) / 1e6:.1f} MB; a checkpoint of these networks is under {MAX_CHECKPOINT_BYTES // 2**20} MB")
    _check_archive(data)
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
    observation = {k: loaded.pop(k) for k in OBS_KEYS} if all(k in loaded for k in OBS_KEYS) else None
    expected = agent.state_dict()
    missing, extra = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or extra:
        raise CheckpointError(
            "its parameters do not match this preset's network"
            + (f"; missing {', '.join(missing[:4])}" if missing else "")
            + (f"; unexpected {', '.join(extra[:4])}" if extra else "")
            + _made_for(loaded)
        )
    # Kind before shape, and shape before values: a tensor's shape is read without its data,
    # while counting its NaNs touches every element (a stride-0 view can claim billions).
    _check_kinds({k: loaded[k] for k in expected}, {k: v.is_floating_point() for k, v in expected.items()})
    wrong = [f"{k} is {tuple(loaded[k].shape)}, expected {tuple(v.shape)}" for k, v in expected.items() if loaded[k].shape != v.shape]
    if wrong:
        raise CheckpointError("its shapes do not match this preset's network: " + "; ".join(wrong[:3]) + _made_for(loaded))
    _check_finite(loaded)
    stats = None if observation is None else _observation_stats(observation, _observation_size(agent))
    agent.load_state_dict(loaded)
    return stats


def presets_for(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The presets whose network has exactly these parameter names and shapes: the environment
    a checkpoint was trained on, read from its shapes (the file records no name)."""
    from ppo_core import PRESETS
    from ppo_core.trainer import agent_for

    shapes = {k: tuple(v.shape) for k, v in tensors.items() if k not in OBS_KEYS}
    return [
        name for name, cfg in PRESETS.items()
        if {k: tuple(v.shape) for k, v in agent_for(cfg).state_dict().items()} == shapes
    ]


def _made_for(tensors: dict[str, torch.Tensor]) -> str:
    """"; it is a model for <environment> (the <preset> preset)", or "" when no preset matches."""
    from ppo_core import ENVIRONMENTS, PRESETS

    found = presets_for(tensors)
    if not found:
        return ""
    named = " or ".join(f"{ENVIRONMENTS[PRESETS[p].env_id].title} (the {p} preset)" for p in found)
    return f"; it is a model for {named}: choose that preset to watch it"


def _check_archive(data: bytes) -> None:
    """Refuse a zip that is not one, holds too many members, or declares more than
    MAX_UNPACKED_BYTES unpacked, from its directory alone (nothing is decompressed)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):  # torch.save writes a zip archive; random bytes, text, a bare pickle do not
        raise CheckpointError("not a PyTorch checkpoint: torch.save writes a zip archive and this file is not one"
                              + (" (it is a plain pickle)" if data[:1] == b"\x80" else ""))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"not a PyTorch checkpoint: its zip directory is damaged ({type(exc).__name__})") from None
    if len(members) > MAX_MEMBERS:
        raise CheckpointError(f"the archive holds {len(members):,} files; a checkpoint of these networks holds fewer than {MAX_MEMBERS}")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise CheckpointError(
            f"it would unpack to {unpacked / 1e6:,.1f} MB; a checkpoint of these networks unpacks to under {MAX_UNPACKED_BYTES // 2**20} MB"
        )


def _kind_problem(t: torch.Tensor, floating: bool) -> str | None:
    """Why ``t`` cannot be loaded into a parameter (``floating``: the parameter is floating-point)."""
    if t.layout != torch.strided:
        return f"a {str(t.layout).removeprefix('torch.')} tensor; a checkpoint holds dense tensors"
    if t.is_meta:
        return "a meta tensor, which holds no values"
    if floating and not t.is_floating_point():
        return f"{str(t.dtype).removeprefix('torch.')}; expected real floating-point numbers"
    return None


def _check_kinds(tensors: dict[str, torch.Tensor], floating: dict[str, bool]) -> None:
    problems = [f"{k} is {why}" for k, t in tensors.items() if (why := _kind_problem(t, floating.get(k, True)))]
    if problems:
        raise CheckpointError("; ".join(problems[:3]))


def _check_finite(tensors: dict[str, torch.Tensor]) -> None:
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{', '.join(bad[:3])} {'holds' if len(bad) == 1 else 'hold'} NaN or infinite values")


def _observation_size(agent: torch.nn.Module) -> int:
    """The observation's length: the input width of the agent's first layer."""
    return next(m.in_features for m in agent.modules() if isinstance(m, torch.nn.Linear))


def _observation_stats(observation: dict[str, torch.Tensor], size: int) -> dict[str, np.ndarray]:
    """The stored observation statistics (keyed by OBS_KEYS) as float64 arrays, checked: one
    mean and one positive variance per observation component (the normaliser divides by the
    variance's square root)."""
    _check_kinds(observation, {})
    wrong = [f"{k} is {tuple(t.shape)}, expected ({size},)" for k, t in observation.items() if tuple(t.shape) != (size,)]
    if wrong:
        raise CheckpointError("its observation statistics do not match this preset's observations: " + "; ".join(wrong))
    _check_finite(observation)
    mean, var = (observation[k].to(torch.float64).numpy() for k in OBS_KEYS)
    if not (var > 0).all():
        raise CheckpointError(f"{OBS_KEYS[1]} holds a variance that is not positive (the smallest is {var.min():g}); a variance is > 0")
    return {"mean": mean, "var": var}
