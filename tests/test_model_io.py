"""Uploaded checkpoints that must be refused cheaply and with a message: a zip bomb, an archive of
thousands of members, tensors of the wrong kind or with non-finite values, observation statistics
of the wrong size or with a variance that is not positive; and the training page's uploader checks
a file once, not on every rerun."""

from __future__ import annotations

import collections
import io
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from plain_markdown import code_spans, markup_in

from ppo_core import PRESETS
from ppo_core.trainer import agent_for
from ui import model_io
from ui.model_io import MAX_CHECKPOINT_BYTES, CheckpointError, checkpoint_bytes, load_checkpoint

PAGE = "lessons/training.py"
CARTPOLE, ACROBOT = PRESETS["cartpole"], PRESETS["acrobot"]  # acrobot normalises its 6 observations
BOMB_TENSOR_BYTES = 256 * 2**20


# -- measuring a refusal's memory --------------------------------------------------------------
def peak_rss_growth_mb(action) -> float:
    """How far the process's peak resident memory rose above its current size during ``action``
    (Linux: writing 5 to /proc/self/clear_refs resets the peak, VmHWM). The process's own RSS,
    not tracemalloc: torch.load allocates in C++, where tracemalloc does not see."""
    def kb(field: str) -> int:
        return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))

    Path("/proc/self/clear_refs").write_text("5")
    before = kb("VmRSS")
    assert kb("VmHWM") <= before + 1024  # the reset worked
    action()
    return (kb("VmHWM") - before) / 1024


def refusal(data: bytes, agent) -> str:
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(data, agent)
    assert all(torch.equal(before[k], v) for k, v in agent.state_dict().items())  # untouched
    return str(refused.value)


# -- a zip bomb: a small file whose one tensor unpacks to 256 MB -------------------------------------
class _Storage:
    """Stands for a tensor's storage in the pickle: torch writes a persistent id in its place."""

    def __init__(self, numel: int):
        self.numel = numel


class _Tensor:
    def __init__(self, numel: int):
        self.numel = numel

    def __reduce__(self):  # what torch.save writes for a 1-D float32 tensor of numel elements
        return torch._utils._rebuild_tensor_v2, (_Storage(self.numel), 0, (self.numel,), (1,), False, collections.OrderedDict())


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def zip_bomb(tensor_bytes: int = BOMB_TENSOR_BYTES) -> bytes:
    """A torch.load-able checkpoint of one float32 tensor of ``tensor_bytes`` zeros, its storage
    member deflated (torch.save stores members uncompressed, but its reader inflates them): a few
    hundred kB on disk, under MAX_CHECKPOINT_BYTES. Built in 1 MB pieces, never whole in memory."""
    pkl = io.BytesIO()
    _TorchPickler(pkl, protocol=2).dump({"actor.0.weight": _Tensor(tensor_bytes // 4)})
    template = io.BytesIO()
    torch.save({"actor.0.weight": torch.zeros(1)}, template)  # torch's bookkeeping members, as it writes them
    out = io.BytesIO()
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.endswith("/data.pkl"):
                dst.writestr(info.filename, pkl.getvalue())
            elif "/data/" in info.filename:
                with dst.open(info.filename, "w", force_zip64=True) as member:
                    for _ in range(tensor_bytes // 2**20):
                        member.write(bytes(2**20))
            else:
                dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zip_bomb()


def test_the_bomb_is_a_real_checkpoint_small_on_disk(bomb):
    """The test's own premise: a file the size limit lets through, that torch.load would unpack."""
    assert len(bomb) < MAX_CHECKPOINT_BYTES / 4
    with zipfile.ZipFile(io.BytesIO(bomb)) as z:
        assert sum(m.file_size for m in z.infolist()) > BOMB_TENSOR_BYTES
    small = zip_bomb(4 * 2**20)  # the same construction, small enough to load here
    loaded = torch.load(io.BytesIO(small), weights_only=True)
    assert loaded["actor.0.weight"].shape == (2**20,) and not loaded["actor.0.weight"].any()


def test_a_zip_bomb_is_refused_by_its_declared_size_before_anything_is_unpacked(bomb):
    agent = agent_for(CARTPOLE)
    messages = []
    growth = peak_rss_growth_mb(lambda: messages.append(refusal(bomb, agent)))
    assert growth < 50, f"refusing the bomb raised peak memory by {growth:.0f} MB"
    assert messages[0] == "it would unpack to 268.4 MB; a checkpoint of these networks unpacks to under 2 MB", messages


def test_an_archive_of_thousands_of_members_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(5000):
            z.writestr(f"archive/data/{i}", b"")
    assert len(buf.getvalue()) < MAX_CHECKPOINT_BYTES
    assert refusal(buf.getvalue(), agent_for(CARTPOLE)) == f"the archive holds 5,000 files; a checkpoint of these networks holds fewer than {model_io.MAX_MEMBERS}"


def test_a_real_checkpoint_is_within_the_archive_limits():
    """The limits leave room: the checkpoint of a network four times wider than the presets' (64, 64), with statistics."""
    agent = agent_for(ACROBOT.replace(hidden_sizes=(256, 256)))
    data = checkpoint_bytes(agent.state_dict(), {"mean": np.zeros(6), "var": np.ones(6)})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = z.infolist()
    assert len(members) < model_io.MAX_MEMBERS and sum(m.file_size for m in members) < model_io.MAX_UNPACKED_BYTES
    assert load_checkpoint(data, agent_for(ACROBOT.replace(hidden_sizes=(256, 256)))) is not None


# -- tensors of the wrong kind -------------------------------------------------------------------
def with_tensor(name: str, change, preset=CARTPOLE, stats=None) -> bytes:
    state = agent_for(preset).state_dict()
    state[name] = change(state[name])
    return checkpoint_bytes(state, stats)


def nan_at_first(t: torch.Tensor, value: float) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = value
    return t


W = "actor.0.weight"
BAD_TENSORS = [
    pytest.param(lambda t: t.to_sparse(), f"{W} is a sparse_coo tensor; a checkpoint holds dense tensors", id="sparse"),
    pytest.param(lambda t: t.to_sparse_csr(), f"{W} is a sparse_csr tensor; a checkpoint holds dense tensors", id="sparse-csr"),
    pytest.param(lambda t: torch.empty(t.shape, device="meta"), f"{W} is a meta tensor, which holds no values", id="meta"),
    pytest.param(lambda t: t.to(torch.complex64), f"{W} is complex64; expected real floating-point numbers", id="complex"),
    pytest.param(lambda t: t.to(torch.int64), f"{W} is int64; expected real floating-point numbers", id="int"),
    pytest.param(lambda t: t.bool(), f"{W} is bool; expected real floating-point numbers", id="bool"),
    pytest.param(lambda t: nan_at_first(t, float("nan")), f"{W} holds NaN or infinite values", id="nan"),
    pytest.param(lambda t: nan_at_first(t, float("-inf")), f"{W} holds NaN or infinite values", id="inf"),
]


@pytest.mark.parametrize("change, message", BAD_TENSORS)
def test_a_tensor_of_the_wrong_kind_is_refused(change, message):
    assert refusal(with_tensor(W, change), agent_for(CARTPOLE)) == message


def test_float64_parameters_are_accepted():
    """Real floating point of another precision is a usable checkpoint (load_state_dict casts)."""
    agent = agent_for(CARTPOLE)
    assert load_checkpoint(with_tensor(W, lambda t: t.double()), agent) is None
    assert agent.state_dict()[W].dtype == torch.float32


def test_a_view_claiming_more_elements_than_it_stores_is_refused_by_its_shape():
    """A stride-0 view saves one element and claims 64 M: the shape is checked before any values
    are read or copied (the old code turned such statistics into a 512 MB float64 array)."""
    huge = torch.zeros(1).expand(2**26)
    data = checkpoint_bytes(agent_for(ACROBOT).state_dict(), {"mean": huge, "var": torch.ones(6)})
    assert len(data) < 100_000
    messages = []
    growth = peak_rss_growth_mb(lambda: messages.append(refusal(data, agent_for(ACROBOT))))
    assert growth < 50, f"{growth:.0f} MB"
    assert messages[0] == "its observation statistics do not match this preset's observations: obs_norm.mean is (67108864,), expected (6,)"


# -- observation statistics ------------------------------------------------------------------------
ONES = np.ones(6)
BAD_STATS = [
    pytest.param({"mean": np.zeros(5), "var": ONES}, "its observation statistics do not match this preset's observations: obs_norm.mean is (5,), expected (6,)", id="short-mean"),
    pytest.param({"mean": np.zeros(6), "var": np.ones((6, 1))}, "its observation statistics do not match this preset's observations: obs_norm.var is (6, 1), expected (6,)", id="2d-var"),
    pytest.param({"mean": np.zeros(6), "var": np.array(1.0)}, "its observation statistics do not match this preset's observations: obs_norm.var is (), expected (6,)", id="scalar-var"),
    pytest.param({"mean": np.zeros(6), "var": np.array([1, 1, 0, 1, 1, 1.0])}, "obs_norm.var holds a variance that is not positive (the smallest is 0); a variance is > 0", id="zero-var"),
    pytest.param({"mean": np.zeros(6), "var": np.array([1, 1, 1, 1, 1, -2.0])}, "obs_norm.var holds a variance that is not positive (the smallest is -2); a variance is > 0", id="negative-var"),
    pytest.param({"mean": np.array([0, 0, np.nan, 0, 0, 0]), "var": ONES}, "obs_norm.mean holds NaN or infinite values", id="nan-mean"),
    pytest.param({"mean": np.zeros(6), "var": np.full(6, np.inf)}, "obs_norm.var holds NaN or infinite values", id="inf-var"),
    pytest.param({"mean": np.zeros(6, dtype=np.int64), "var": ONES}, "obs_norm.mean is int64; expected real floating-point numbers", id="int-mean"),
    pytest.param({"mean": np.zeros(6, dtype=np.complex64), "var": ONES}, "obs_norm.mean is complex64; expected real floating-point numbers", id="complex-mean"),
]


@pytest.mark.parametrize("stats, message", BAD_STATS)
def test_bad_observation_statistics_are_refused(stats, message):
    data = checkpoint_bytes(agent_for(ACROBOT).state_dict(), stats)
    assert refusal(data, agent_for(ACROBOT)) == message


def test_good_observation_statistics_come_back_as_float64():
    mean, var = np.arange(6, dtype=np.float32), np.linspace(0.5, 3.0, 6, dtype=np.float32)
    stats = load_checkpoint(checkpoint_bytes(agent_for(ACROBOT).state_dict(), {"mean": mean, "var": var}), agent_for(ACROBOT))
    assert stats["mean"].dtype == np.float64 and np.array_equal(stats["mean"], mean) and np.array_equal(stats["var"], var)


# -- the page's uploader -------------------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch) -> list:
    """Every load_checkpoint call the page makes (the page imports it on each run)."""
    calls = []
    real = model_io.load_checkpoint

    def counting(data, agent):
        calls.append(len(data))
        return real(data, agent)

    monkeypatch.setattr(model_io, "load_checkpoint", counting)
    return calls


def test_the_uploader_checks_a_file_once_not_on_every_rerun(at, bomb, counted):
    at.file_uploader(key="train_upload").upload("bomb.pt", bomb).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Can't use `bomb.pt`: it would unpack to 268.4 MB; a checkpoint of these networks unpacks to under 2 MB."]
    at.run()
    at.toggle(key="train_greedy").set_value(True).run()
    assert len(counted) == 1 and len(at.error) == 1  # still refused, not checked again
    # the verdict belongs to the preset it was checked against
    model = checkpoint_bytes(agent_for(CARTPOLE).state_dict())
    at.file_uploader(key="train_upload").upload("cartpole.pt", model).run()
    at.run()
    assert len(counted) == 2 and at.success[-1].value.startswith("Loaded `cartpole.pt`")
    at.selectbox(key="train_preset").set_value("acrobot").run()
    assert len(counted) == 3 and "shapes do not match" in at.error[0].value


def test_the_uploader_names_a_file_in_plain_text(at):
    name = "![i](http://evil.test/a.png) [x](http:evil) <img src=x onerror=alert(1)> `b`.pt"
    data = with_tensor(W, lambda t: t.to(torch.complex64))
    at.file_uploader(key="train_upload").upload(name, data).run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    spans, outside = code_spans(error)
    assert spans == [name[:40] + "…"], error
    assert outside.startswith("Can't use \0: actor.0.weight is complex64") and not markup_in(outside), outside


@pytest.mark.parametrize("made, chosen", [("cartpole", "acrobot"), ("pendulum", "pendulum-discrete"), ("acrobot", "mountaincar-continuous")])
def test_a_model_of_another_environment_is_refused_with_the_environment_it_is_for(made, chosen):
    """The file records no name: the environment is read from its shapes, which only the network
    of that preset (and of no other) has."""
    from ppo_core import ENVIRONMENTS

    data = checkpoint_bytes(agent_for(PRESETS[made]).state_dict())
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(data, agent_for(PRESETS[chosen]))
    assert model_io.presets_for(agent_for(PRESETS[made]).state_dict()) == [made]
    title = ENVIRONMENTS[PRESETS[made].env_id].title
    assert str(refused.value).endswith(f"; it is a model for {title} (the {made} preset): choose that preset to watch it")
