"""minigrad.io: save/load round trips, atomic writes, and files that must be refused."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import io as mgio
from minigrad.io import FORMAT_VERSION, load, save
from minigrad.nn import Layer, Parameter
from minigrad.optim import SGD, Adam


class Affine(Layer):
    """A small layer with a float32 parameter, a float64 parameter and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.W = Parameter(np.arange(6.0).reshape(2, 3))
        self.b = Parameter(np.linspace(-1, 1, 3).astype(np.float32))
        self.register_buffer("seen", np.array(4, dtype=np.int64))

    def forward(self, x):
        return x @ self.W + self.b


class Net(Layer):
    def __init__(self) -> None:
        super().__init__()
        self.affine1 = Affine()
        self.scale = Parameter(np.array(2.0))


def assert_same_dict(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def kind_of(path) -> str:
    with np.load(path, allow_pickle=False) as npz:
        return str(npz["__minigrad_kind__"])


# --- round trips ----------------------------------------------------------------------------
def test_dict_round_trip_keeps_names_order_values_and_dtypes(tmp_path):
    state = {
        "layer2.W": np.arange(12, dtype=np.float32).reshape(3, 4),
        "layer1.W": np.linspace(0, 1, 5),
        "bn.running_mean": np.zeros(0),
        "count": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "file": np.ones(1),  # np.savez's own argument names must work as entry names
        "allow_pickle": np.ones(1),
    }
    path = tmp_path / "state.npz"
    save(state, path)
    loaded = load(path)
    assert_same_dict(loaded, state)
    assert kind_of(path) == "dict"


def test_path_may_be_a_string_and_no_suffix_is_added(tmp_path):
    path = str(tmp_path / "checkpoint")
    save({"x": np.ones(2)}, path)
    assert os.listdir(tmp_path) == ["checkpoint"]
    assert load(path)["x"].tolist() == [1.0, 1.0]


def test_layer_round_trip_into_a_fresh_layer(tmp_path):
    net = Net()
    net.affine1.W.data *= 3.0
    net.affine1.seen = np.array(9, dtype=np.int64)
    save(net, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert_same_dict(loaded, net.state_dict())
    assert sorted(loaded) == ["affine1.W", "affine1.b", "affine1.seen", "scale"]
    assert kind_of(tmp_path / "model.npz") == "layer"

    fresh = Net()
    fresh.load_state_dict(loaded)
    assert_same_dict(fresh.state_dict(), net.state_dict())


def test_optimizer_round_trip_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((2, 3)) for _ in range(6)]

    def train(opt, p, steps):
        for g in steps:
            p.grad = g.copy()
            opt.step()

    p = mg.Tensor(np.ones((2, 3)), requires_grad=True)
    opt = Adam([p], lr=0.05, weight_decay=0.01)
    train(opt, p, grads[:3])
    save(opt, tmp_path / "adam.npz")
    save({"p": p.data}, tmp_path / "p.npz")
    train(opt, p, grads[3:])

    q = mg.Tensor(load(tmp_path / "p.npz")["p"], requires_grad=True)
    resumed = Adam([q])
    resumed.load_state_dict(load(tmp_path / "adam.npz"))
    train(resumed, q, grads[3:])
    np.testing.assert_array_equal(q.data, p.data)
    assert kind_of(tmp_path / "adam.npz") == "optimizer"


def test_loaded_file_is_a_plain_npz_that_numpy_reads(tmp_path):
    save({"w": np.eye(2)}, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as npz:
        assert int(npz["__minigrad_format__"]) == FORMAT_VERSION
        np.testing.assert_array_equal(npz["w"], np.eye(2))


def test_tensor_values_are_saved_as_their_arrays(tmp_path):
    save({"t": mg.Tensor([1.0, 2.0])}, tmp_path / "t.npz")
    assert load(tmp_path / "t.npz")["t"].tolist() == [1.0, 2.0]


# --- what save refuses, before writing anything ---------------------------------------------
@pytest.mark.parametrize(
    "state, message",
    [
        ({"w": np.array([object()], dtype=object)}, "entry 'w' is an array of Python objects"),
        ({"w": None}, "entry 'w' is an array of Python objects"),
        ({"w": [1, [2, 3]]}, "entry 'w' cannot be made into an array"),
        ({"__minigrad_format__": np.array(2)}, "is reserved"),
        ({3: np.ones(1)}, "every name must be a non-empty string"),
        ({"": np.ones(1)}, "every name must be a non-empty string"),
    ],
)
def test_save_refuses_without_touching_the_file(tmp_path, state, message):
    path = tmp_path / "model.npz"
    save({"old": np.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        save({"fine": np.ones(2), **state}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="takes a Layer, an optimizer or a dict"):
        save([np.ones(2)], tmp_path / "x.npz")


def test_save_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        save({"x": np.ones(1)}, tmp_path / "no" / "such" / "x.npz")


# --- atomic writes --------------------------------------------------------------------------
def test_failure_mid_write_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save({"W": np.ones((2, 2))}, path)
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(file, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real_write(file, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save({"W": np.zeros((2, 2)), "b": np.zeros(2), "c": np.zeros(1)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file is gone
    monkeypatch.undo()
    np.testing.assert_array_equal(load(path)["W"], np.ones((2, 2)))


def test_failure_before_rename_leaves_no_file_at_all(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        save({"W": np.ones(2)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_saving_again_replaces_the_file(tmp_path):
    path = tmp_path / "model.npz"
    save({"W": np.ones(2)}, path)
    save({"W": np.zeros(3)}, path)
    assert load(path)["W"].tolist() == [0.0, 0.0, 0.0]
    assert os.listdir(tmp_path) == ["model.npz"]


KILLED_SAVE = """
import os, sys, time
import numpy as np
import minigrad as mg

def hang(fd):
    print("writing", flush=True)
    time.sleep(60)

os.fsync = hang  # the save stops after writing its temporary, until it is killed
mg.save({"W": np.zeros((100, 100))}, sys.argv[1])
"""


def killed_save(path) -> None:
    """Run mg.save(path) in another process and kill it while it writes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


@pytest.mark.skipif(os.name != "posix", reason="the writer's process is checked on POSIX")
def test_the_next_save_removes_what_a_killed_save_left_behind(tmp_path):
    path = tmp_path / "model.npz"
    save({"W": np.ones(2)}, path)
    killed_save(path)
    left = [name for name in os.listdir(tmp_path) if name != "model.npz"]
    assert len(left) == 1 and left[0].startswith(".model.npz.") and left[0].endswith(".tmp")
    assert load(path)["W"].tolist() == [1.0, 1.0]  # the old file is intact
    (tmp_path / ".model.npz.0123456789ab.tmp").write_bytes(b"older minigrad")
    (tmp_path / f".other.npz.{os.getpid() + 10**6}.0123456789ab.tmp").write_bytes(b"other")
    save({"W": np.zeros(3)}, path)
    assert sorted(os.listdir(tmp_path)) == [
        f".other.npz.{os.getpid() + 10**6}.0123456789ab.tmp",
        "model.npz",
    ]
    assert load(path)["W"].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.skipif(os.name != "posix", reason="the writer's process is checked on POSIX")
def test_a_save_still_running_keeps_its_temporary(tmp_path):
    path = tmp_path / "model.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = tmp_path / f".model.npz.{sleeper.pid}.0123456789ab.tmp"
        mine = tmp_path / f".model.npz.{os.getpid()}.ba9876543210.tmp"
        running.write_bytes(b"still writing")
        mine.write_bytes(b"this process, another thread")
        save({"W": np.ones(2)}, path)
        assert running.exists() and mine.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_save_to_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(IsADirectoryError, match="this is a folder; pass the path of a file"):
        save({"x": np.ones(1)}, tmp_path)
    assert os.listdir(tmp_path) == []


# --- what load refuses ----------------------------------------------------------------------
def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "nothing.npz")


def test_load_of_a_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="this is a folder, not a file"):
        load(tmp_path)


def test_truncated_file_is_a_value_error_naming_the_path(tmp_path):
    path = tmp_path / "model.npz"
    save({"W": np.arange(1000.0)}, path)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 10, 30):
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="model.npz.*truncated, corrupt"):
            load(path)


def test_corrupted_bytes_are_detected(tmp_path):
    path = tmp_path / "model.npz"
    save({"W": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside W's values: the zip checksum no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated, corrupt"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"hello world", b"\x93NUMPY", b"PK"])
def test_files_that_are_not_npz_are_refused(tmp_path, content):
    path = tmp_path / "weird.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="weird.npz"):
        load(path)


def test_plain_npy_file_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match="not an .npz file"):
        load(path)


class MakesMarker:
    """Unpickling this creates the file ``marker``: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_payload_really_runs_when_unpickled(tmp_path):
    # the control for the two tests below: the payload is live
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(MakesMarker(str(marker)))).close()
    assert marker.exists()


def test_pickle_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps({"W": MakesMarker(str(marker))}))
    with pytest.raises(ValueError, match="not an .npz file"):
        load(path)
    assert not marker.exists()


def test_object_array_in_npz_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.npz"
    evil = np.array([MakesMarker(str(marker))], dtype=object)
    # a file that looks like ours in every other way
    np.savez(
        path,
        W=np.ones(2),
        evil=evil,
        __minigrad_format__=np.array(FORMAT_VERSION),
        __minigrad_kind__=np.array("dict"),
    )
    assert not marker.exists()
    with pytest.raises(ValueError, match="holds objects that only pickle could read"):
        load(path)
    assert not marker.exists()


def test_non_array_member_in_npz_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    save({"W": np.ones(2)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"not an array")
    with pytest.raises(ValueError, match="entry 'notes.txt' is not a NumPy array"):
        load(path)


def write_npz(path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def test_npz_not_written_by_save_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    write_npz(path, W=np.ones(2))
    with pytest.raises(ValueError, match="no '__minigrad_format__' entry"):
        load(path)


@pytest.mark.parametrize(
    "version, message",
    [
        (np.array(FORMAT_VERSION + 1), "upgrade minigrad"),
        (np.array(0), "format version 0, but this minigrad reads version 1"),
        (np.array(1.0), "must be a 0-d integer array"),
        (np.array([1]), "must be a 0-d integer array"),
        (np.array("1"), "must be a 0-d integer array"),
    ],
)
def test_wrong_format_version_is_refused(tmp_path, version, message):
    path = tmp_path / "model.npz"
    write_npz(path, W=np.ones(2), __minigrad_format__=version, __minigrad_kind__=np.array("dict"))
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize("kind", [None, np.array("tensor"), np.array(1)])
def test_missing_or_unknown_kind_is_refused(tmp_path, kind):
    path = tmp_path / "model.npz"
    extra = {} if kind is None else {"__minigrad_kind__": kind}
    write_npz(path, W=np.ones(2), __minigrad_format__=np.array(FORMAT_VERSION), **extra)
    with pytest.raises(ValueError, match="'__minigrad_kind__' entry must be one of"):
        load(path)


def test_loaded_state_feeds_load_state_dict_of_an_optimizer(tmp_path):
    p = mg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3, dtype=np.float32)
    opt.step()
    save(opt, tmp_path / "sgd.npz")
    other = SGD([mg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)], momentum=0.5)
    other.load_state_dict(mgio.load(tmp_path / "sgd.npz"))
    assert (other.lr, other.momentum, other.t) == (0.1, 0.9, 1)
    assert other.state_dict()["state.0.velocity"].dtype == np.float32
