"""The chapter-6 experiments and the convolutional net run with --quick, write their PNG
and print tables whose figures show what the book's experiments show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(script: str, out: Path, *args: str) -> str:
    # why: these nets' matrices are small; BLAS threads only fight concurrent tests for cores
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_png(path: Path) -> None:
    assert path.is_file(), f"no plot at {path}"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"


def table(text: str, first_header: str) -> dict[str, list[str]]:
    """The printed table whose header starts with ``first_header``: row name -> the other
    cells (cells are separated by two spaces or more)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    width = len(re.split(r"\s{2,}", lines[start].strip()))
    rows = {}
    for line in lines[start + 1 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != width:
            break
        rows[cells[0]] = cells[1:]
    assert rows, f"no rows under {first_header!r} in:\n{text}"
    return rows


def test_optimizer_compare_every_optimizer_learns_and_sgd_is_slowest(tmp_path):
    out = run("optimizer_compare.py", tmp_path)
    assert_png(tmp_path / "optimizers.png")
    rows = table(out, "optimizer")
    assert set(rows) == {"SGD", "Momentum", "AdaGrad", "RMSprop", "Adam"}
    first, final = {}, {}
    for name, (_, first_loss, final_loss, _) in rows.items():
        first[name], final[name] = float(first_loss), float(final_loss)
    assert len(set(first.values())) == 1, "the optimizers must start from the same weights"
    assert final["Adam"] < 0.5 * first["Adam"]
    assert all(final[name] < first[name] for name in rows)
    assert final["SGD"] > max(final[name] for name in rows if name != "SGD")


def test_weight_init_compare_std_001_does_not_learn_and_he_does(tmp_path):
    out = run("weight_init_compare.py", tmp_path)
    assert_png(tmp_path / "weight_init.png")
    rows = table(out, "init")
    spread = {name: float(cells[0]) for name, cells in rows.items()}
    final = {name: float(cells[2]) for name, cells in rows.items()}
    assert spread["std 0.01"] < 1e-4 < spread["Xavier"] < spread["He"]
    assert final["std 0.01"] > 2.25  # stuck at log(10) = 2.30
    assert final["He"] < final["Xavier"] < final["std 0.01"]
    assert final["He"] < 1.5


def accuracy_rows(out: str) -> dict[str, tuple[float, float, float, float]]:
    """variant -> (train acc, test acc, gap, late gap)."""
    return {name: tuple(map(float, cells)) for name, cells in table(out, "variant").items()}


def test_overfit_weight_decay_plain_net_memorises_and_decay_holds_it_back(tmp_path):
    out = run("overfit_weight_decay.py", tmp_path)
    assert_png(tmp_path / "weight_decay.png")
    rows = accuracy_rows(out)
    plain, decay = rows["no decay"], rows["decay 0.1"]
    assert plain[0] >= 0.98 and plain[2] >= 0.1  # 300 samples learnt by heart, test far below
    assert decay[0] < plain[0] - 0.02
    assert decay[1] > 0.5  # it still learns


def test_overfit_dropout_narrows_the_gap_and_does_not_lower_test_accuracy(tmp_path):
    out = run("overfit_dropout.py", tmp_path)
    assert_png(tmp_path / "dropout.png")
    rows = accuracy_rows(out)
    plain, dropout = rows["no dropout"], rows["dropout 0.2"]
    assert plain[0] >= 0.98 and plain[2] >= 0.1  # 300 samples learnt by heart, test far below
    # the gap averaged over the last quarter of the epochs narrows, by more than noise
    assert dropout[3] < plain[3] - 0.01
    assert dropout[1] >= plain[1]  # and the test accuracy is not lower: not mere underfitting


def test_batch_norm_compare_learns_where_the_plain_net_cannot(tmp_path):
    out = run("batch_norm_compare.py", tmp_path)
    assert_png(tmp_path / "batch_norm.png")
    lines = [line.split() for line in out.splitlines()]
    rows = {
        (cells[0], cells[1]): cells[2:]
        for cells in lines
        if cells[1:2] in (["BatchNorm"], ["plain"])
    }
    assert set(rows) == {
        ("1", "BatchNorm"),
        ("1", "plain"),
        ("0.01", "BatchNorm"),
        ("0.01", "plain"),
    }
    train_acc = {key: float(cells[0]) for key, cells in rows.items()}
    assert train_acc["0.01", "BatchNorm"] >= 0.9
    assert train_acc["0.01", "plain"] <= 0.2  # vanishing signals: chance
    assert train_acc["1", "plain"] <= 0.2 and int(rows["1", "plain"][2]) > 0  # overflowing
    assert train_acc["1", "BatchNorm"] > train_acc["1", "plain"]


def final_test_accuracy(out: str) -> float:
    match = re.search(r"^final test accuracy ([0-9.]+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


@pytest.mark.parametrize(
    ("script", "args"),
    [("simple_convnet.py", ()), ("train.py", ("--model", "convnet", "--no-progress"))],
    ids=["simple_convnet", "train_convnet"],
)
def test_simple_convnet_trains_on_the_digits(tmp_path, script, args):
    out = run(script, tmp_path, *args)
    assert_png(tmp_path / "curves.png")
    assert final_test_accuracy(out) > 0.5  # chance is 0.1
    import minigrad as mg

    state = mg.load(tmp_path / "model.npz")
    assert state["conv2d1.W"].shape == (30, 1, 5, 5)
    assert state["affine1.W"].shape == (30 * 4 * 4, 100)  # pad 2 keeps 8x8, pooled to 4x4
