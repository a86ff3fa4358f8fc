"""The examples run with --quick, exit cleanly and print figures that meet their bounds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def figure(text: str, label: str) -> float:
    match = re.search(rf"^{label}\s+([-+0-9.eE]+)", text, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{text}"
    return float(match.group(1))


def test_two_layer_net_learns_the_digits():
    out = run("two_layer_net.py")
    assert figure(out, "train accuracy") >= 0.9
    assert figure(out, "test accuracy") >= 0.85
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", out)]
    assert len(losses) >= 2 and losses[-1] < losses[0]


def test_gradient_check_agrees_to_1e_9():
    out = run("gradient_check.py")
    for key in ("W1", "b1", "W2", "b2"):
        assert figure(out, key + r"\s+\([0-9, ]+\)") <= 1e-9
    assert figure(out, "largest difference") <= 1e-9


def test_main_training_job_prints_the_table_and_writes_checkpoint_and_plot(tmp_path):
    out = run("train.py", "--out", str(tmp_path), "--no-progress")
    assert re.search(r"^epoch\s+loss\s+train acc\s+test acc", out, re.MULTILINE), out
    assert figure(out, "final test accuracy") > 0.7
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import minigrad as mg

    state = mg.load(tmp_path / "model.npz")
    assert {"affine1.W", "affine1.b", "affine2.W", "affine2.b"} <= set(state)
    assert state["affine1.W"].shape == (64, 50)
    assert "state.0.velocity" not in mg.load(tmp_path / "optimizer.npz")  # plain SGD: no buffers


def test_main_training_job_compiled_gives_the_same_table(tmp_path):
    def table(out: str) -> list[list[str]]:  # epoch, loss, train acc, test acc (not the time)
        rows = re.findall(r"^\s*\d+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+", out, re.MULTILINE)
        return [row.split() for row in rows]

    eager = run("train.py", "--out", str(tmp_path / "eager"), "--no-progress", "--epochs", "3")
    compiled = run(
        "train.py",
        "--out",
        str(tmp_path / "compiled"),
        "--no-progress",
        "--epochs",
        "3",
        "--compile",
    )
    assert len(table(eager)) == 3
    assert table(compiled) == table(eager)
