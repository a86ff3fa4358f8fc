"""minigrad.data: DataLoader, load_digits, read_idx and load_mnist (on a local server)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad.data
from minigrad.data import DataLoader, load_digits, load_mnist, read_idx
from minigrad.data import download as download_module
from minigrad.data import mnist as mnist_module

# ---------------------------------------------------------------- DataLoader


@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 70),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_each_epoch_visits_every_sample_once(n, batch_size, shuffle, drop_last, seed):
    x = np.arange(n) * 10
    t = np.arange(n)
    loader = DataLoader((x, t), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([tb for _, tb in batches]) if batches else np.array([], int)
        for xb, tb in batches:
            np.testing.assert_array_equal(xb, tb * 10)  # rows stay paired
            assert len(tb) <= batch_size
        if drop_last:
            assert all(len(tb) == batch_size for _, tb in batches)
            assert len(seen) == n // batch_size * batch_size
            assert len(np.unique(seen)) == len(seen)
        else:
            np.testing.assert_array_equal(np.sort(seen), t)
        if not shuffle:
            np.testing.assert_array_equal(seen, t[: len(seen)])


def test_len_counts_batches():
    x = np.zeros((10, 3))
    assert len(DataLoader(x, 3)) == 4
    assert len(DataLoader(x, 3, drop_last=True)) == 3
    assert len(DataLoader(x, 10)) == 1
    assert len(DataLoader(x, 11, drop_last=True)) == 0


def test_same_seed_repeats_the_run_and_epochs_differ():
    x = np.arange(100)

    def run(seed):
        loader = DataLoader(x, 10, shuffle=True, seed=seed)
        return [np.concatenate(list(loader)) for _ in range(3)]

    first, again, other = run(7), run(7), run(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])


def test_single_array_yields_arrays_and_sequence_yields_tuples():
    x = np.arange(12).reshape(6, 2)
    single = next(iter(DataLoader(x, 4)))
    assert isinstance(single, np.ndarray) and single.shape == (4, 2)
    pair = next(iter(DataLoader([x, x[:, 0]], 4)))
    assert isinstance(pair, tuple) and [a.shape for a in pair] == [(4, 2), (4,)]
    one = next(iter(DataLoader((x,), 4)))
    assert isinstance(one, tuple) and len(one) == 1


def test_unshuffled_batches_are_views_and_shuffled_keep_dtype():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    batch = next(iter(DataLoader(x, 2)))
    assert np.shares_memory(batch, x)
    shuffled = next(iter(DataLoader(x, 2, shuffle=True, seed=0)))
    assert shuffled.dtype == np.float32 and shuffled.shape == (2, 2)


def test_mismatched_lengths_are_an_error_naming_them():
    with pytest.raises(ValueError, match=r"same length.*\[5, 4\]"):
        DataLoader((np.zeros(5), np.zeros(4)), 2)


@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_size_below_one_is_an_error(batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {batch_size}"):
        DataLoader(np.zeros(5), batch_size)


def test_batch_size_must_be_an_int():
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(np.zeros(5), 2.5)


@pytest.mark.parametrize(
    "arrays", [np.zeros((0, 3)), (np.zeros(0), np.zeros(0)), [], np.float64(1.0)]
)
def test_empty_or_scalar_arrays_are_an_error(arrays):
    with pytest.raises(ValueError, match="DataLoader"):
        DataLoader(arrays, 2)


def test_a_dict_of_arrays_is_named_as_a_dict():
    x = np.zeros((4, 2))
    with pytest.raises(TypeError, match=r"got a dict with keys \['x'\]; pass the arrays in order"):
        DataLoader({"x": x}, 2)


@pytest.mark.parametrize("arrays", [iter([np.zeros(3)]), {np.zeros(3).tobytes()}, None])
def test_things_that_are_not_arrays_are_named(arrays):
    with pytest.raises(TypeError, match=f"got a {type(arrays).__name__}; convert it"):
        DataLoader(arrays, 2)


# ---------------------------------------------------------------- load_digits


def test_digits_shapes_dtypes_and_range():
    (x_train, t_train), (x_test, t_test) = load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert t_train.shape == (1437,) and t_test.shape == (360,)
    assert x_train.dtype == np.float64 and t_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert x_test.min() >= 0.0 and x_test.max() <= 1.0
    np.testing.assert_array_equal(np.unique(t_train), np.arange(10))
    np.testing.assert_array_equal(np.bincount(t_test), np.full(10, 36))


def test_digits_options():
    (x, t), _ = load_digits(normalize=False, flatten=False, one_hot=True, dtype=np.float32)
    assert x.shape == (1437, 1, 8, 8) and x.dtype == np.float32
    assert t.shape == (1437, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    assert x.max() == 16.0 and np.all(x == np.round(x))
    (raw, _), _ = load_digits(normalize=False, dtype=np.uint8)
    assert raw.dtype == np.uint8 and raw.max() == 16
    (_, labels), _ = load_digits()
    np.testing.assert_array_equal(t.argmax(axis=1), labels)


def test_digits_split_is_deterministic():
    (x1, t1), (xt1, tt1) = load_digits()
    (x2, t2), (xt2, tt2) = load_digits()
    for a, b in [(x1, x2), (t1, t2), (xt1, xt2), (tt1, tt2)]:
        np.testing.assert_array_equal(a, b)
    # the train and test images are disjoint rows of the data set
    assert len(np.unique(np.concatenate([x1, xt1]), axis=0)) > 1700


def test_digits_normalize_needs_a_float_dtype():
    with pytest.raises(ValueError, match="float dtype, got uint8"):
        load_digits(dtype=np.uint8)


def test_digits_file_holds_no_pickles():
    path = Path(minigrad.data.digits.__file__).with_name("digits.npz")
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "is_test", "labels"]
        assert archive["images"].dtype == np.uint8


# ---------------------------------------------------------------- read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the idx format (test helper)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes[array.dtype.str[1:]]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        size.to_bytes(4, "big") for size in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = idx_bytes(array)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    result = read_idx(path)
    np.testing.assert_array_equal(result, array)
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    assert result.flags.writeable


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x02" + GOOD[2:], "starts with bytes"),
        (GOOD[:2] + b"\x07" + GOOD[3:], "unknown type byte 0x07"),
        (GOOD[:-1], "24 bytes, but the data has 23 bytes"),
        (GOOD + b"\x00", "24 bytes, but the data has 25 bytes"),
        (GOOD[:6], "cannot hold the header"),
        (gzip.compress(GOOD)[:-10], "not a readable gzip file"),
        (b"\x1f\x8b" + b"garbage" * 3, "not a readable gzip file"),
        (b"", "only 0 bytes long"),
    ],
    ids=["magic", "type", "short", "long", "header", "gzip-cut", "gzip-bad", "empty"],
)
def test_read_idx_reports_corrupt_files(tmp_path, content, message):
    path = tmp_path / "broken-idx2-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value) and "delete the file" in str(error.value)


# ---------------------------------------------------------------- load_mnist


def fake_mnist(count: int, seed: int) -> dict[str, bytes]:
    """Small random MNIST-shaped idx files: name -> raw idx bytes."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(images)
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(labels)
    return files


FILES = fake_mnist(20, seed=0)
OTHER_FILES = fake_mnist(20, seed=1)
CHECKSUMS = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


class FakeMirror:
    """An HTTP server on 127.0.0.1 whose first path segment picks a behaviour.

    /good/<name>.gz serves the file, /bad/ serves different (valid) content,
    /cut/ announces more bytes than it sends and hangs up; anything else is 404.
    """

    def __init__(self):
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append(self.path)
                _, mode, filename = self.path.split("/", 2)
                name = filename.removesuffix(".gz")
                if mode not in ("good", "bad", "cut") or name not in FILES:
                    self.send_error(404)
                    return
                source = OTHER_FILES if mode == "bad" else FILES
                body = gzip.compress(source[name])
                self.send_response(200)
                extra = 1000 if mode == "cut" else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(monkeypatch):
    # why: a proxy from the environment must not see (or swallow) local requests
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeMirror()
    yield server
    server.close()


def load(root, mirror, modes=("good",), **kwargs):
    kwargs.setdefault("checksums", CHECKSUMS)
    kwargs.setdefault("progress", False)
    mirrors = [mirror.url(mode) for mode in modes]
    return load_mnist(root, mirrors=mirrors, **kwargs)


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_download_then_load(tmp_path, mirror):
    (x_train, t_train), (x_test, t_test) = load(tmp_path, mirror)
    assert x_train.shape == (20, 784) and x_test.shape == (20, 784)
    assert x_train.dtype == np.float64 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(t_train, np.arange(20) % 10)
    assert t_train.dtype == np.int64
    expected = read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(x_train, expected.reshape(20, -1) / 255.0)
    assert files_in(tmp_path) == sorted(f"{name}.gz" for name in FILES)
    assert len(mirror.requests) == 4


def test_second_load_is_a_cache_hit(tmp_path, mirror):
    load(tmp_path, mirror)
    assert len(mirror.requests) == 4
    (x, t), _ = load(tmp_path, mirror, flatten=False, one_hot=True, dtype=np.float32)
    assert len(mirror.requests) == 4
    assert x.shape == (20, 1, 28, 28) and t.shape == (20, 10) and t.dtype == np.float32


def test_checksum_failure_leaves_no_file(tmp_path, mirror):
    with pytest.raises(RuntimeError, match="checksum mismatch") as error:
        load(tmp_path, mirror, modes=("bad",))
    assert "/bad/train-images-idx3-ubyte.gz" in str(error.value)
    assert files_in(tmp_path) == []


def test_interrupted_transfer_leaves_no_file_and_a_retry_works(tmp_path, mirror):
    with pytest.raises(RuntimeError, match="interrupted|IncompleteRead"):
        load(tmp_path, mirror, modes=("cut",))
    assert files_in(tmp_path) == []
    load(tmp_path, mirror, modes=("good",))
    assert len(files_in(tmp_path)) == 4


def test_falls_back_to_the_next_mirror(tmp_path, mirror):
    load(tmp_path, mirror, modes=("missing", "good"))
    assert [path.split("/")[1] for path in mirror.requests] == ["missing", "good"] * 4
    assert len(files_in(tmp_path)) == 4


def test_every_mirror_failing_names_each_one(tmp_path, mirror):
    with pytest.raises(RuntimeError) as error:
        load(tmp_path, mirror, modes=("missing", "bad"))
    message = str(error.value)
    assert "HTTP Error 404" in message and "checksum mismatch" in message
    assert str(tmp_path) in message
    assert files_in(tmp_path) == []


def test_built_in_checksums_reject_other_content(tmp_path, mirror):
    with pytest.raises(
        RuntimeError, match="expected " + mnist_module.SHA256["train-images-idx3-ubyte"]
    ):
        load(tmp_path, mirror, checksums=None)
    assert files_in(tmp_path) == []


def test_raw_files_are_read_without_downloading(tmp_path, mirror):
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (x, t), _ = load(tmp_path, mirror, normalize=False, dtype=np.uint8)
    assert mirror.requests == []
    assert x.dtype == np.uint8 and x.shape == (20, 784)


def test_only_missing_files_are_downloaded(tmp_path, mirror):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(FILES["train-images-idx3-ubyte"])
    load(tmp_path, mirror)
    assert len(mirror.requests) == 3
    assert "train-images-idx3-ubyte.gz" not in files_in(tmp_path)


def test_corrupt_local_file_is_reported(tmp_path, mirror):
    load(tmp_path, mirror)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="delete the file") as error:
        load(tmp_path, mirror)
    assert str(path) in str(error.value)
    path.unlink()
    load(tmp_path, mirror)
    assert len(mirror.requests) == 5


def test_mismatched_image_and_label_counts_are_reported(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    short = idx_bytes(np.zeros(19, dtype=np.uint8))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(short)
    with pytest.raises(ValueError, match="has 20 images but .* has 19 labels"):
        load_mnist(tmp_path, download=False)


def test_missing_files_without_download_is_an_error(tmp_path):
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path) in message and "download=True" in message
    assert "train-images-idx3-ubyte" in message and "t10k-images-idx3-ubyte" in message
    assert "t10k-labels" not in message


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "data"))
    assert download_module.default_root("mnist") == tmp_path / "data" / "mnist"
    monkeypatch.delenv("MINIGRAD_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert download_module.default_root("mnist") == tmp_path / "cache" / "minigrad" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download_module.default_root("mnist") == tmp_path / ".cache" / "minigrad" / "mnist"


def test_default_root_is_used_when_root_is_none(monkeypatch, tmp_path, mirror):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    load(None, mirror)
    assert len(files_in(tmp_path / "mnist")) == 4


def test_ctrl_c_during_a_download_leaves_no_file(tmp_path, mirror, monkeypatch):
    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_module, "_verify", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load(tmp_path, mirror)
    assert files_in(tmp_path) == []


def test_progress_without_tqdm_is_one_line_per_file(tmp_path, mirror, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    load(tmp_path, mirror, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(line.startswith("minigrad: downloading") for line in lines)


# ---------------------------------------------------------------- the downloader on its own


def test_downloader_serves_any_file_with_its_own_check(tmp_path, mirror):
    checked = []

    def verify(path, md5):
        data = path.read_bytes()
        assert hashlib.md5(data).hexdigest() == md5  # the MD5 of the bytes as received
        if gzip.decompress(data) != FILES["train-images-idx3-ubyte"]:
            raise ValueError("not the images")
        checked.append(path.name)

    folder = tmp_path / "other-data-set"
    mirrors = [mirror.url("missing"), mirror.url("bad"), mirror.url("good")]
    path = download_module.download(
        "train-images-idx3-ubyte.gz", folder, mirrors, verify, progress=False
    )
    assert path == folder / "train-images-idx3-ubyte.gz" and files_in(folder) == [path.name]
    assert len(checked) == 1 and checked[0].endswith(".part")  # checked before the rename
    assert len(mirror.requests) == 3


def test_sha256_is_accepts_only_that_file(tmp_path, mirror):
    path = tmp_path / "data.bin"
    path.write_bytes(b"minigrad")
    download_module.sha256_is(hashlib.sha256(b"minigrad").hexdigest())(path, "")
    with pytest.raises(ValueError, match="checksum mismatch: SHA-256 .*, expected 00"):
        download_module.sha256_is("00" * 32)(path, "")
    folder = tmp_path / "downloads"
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        download_module.download(
            "t10k-labels-idx1-ubyte.gz",
            folder,
            [mirror.url("good")],
            download_module.sha256_is("00" * 32),
            progress=False,
        )
    assert files_in(folder) == []
